"""FrameLibrary: the frames of a Level-3 product, kept as files and read one at a time.

A dithered observation is many full frames (each 4096 x 4096 IRIS frame is about 400 MiB with its ERR, DQ and
variance arrays), so the Level-3 steps never hold them all: they borrow one frame, use it and give it back
(jwst's ModelLibrary with ``on_disk=True`` is the same idea). A step changes a frame in one of two ways:

- metadata (a corrected gWCS, a sky level): ``update_meta`` keeps the values in memory and applies them to
  the frame each time it is borrowed (and so do HISTORY entries, ``add_history_entry``), so no array is rewritten for a change of a few bytes;
- arrays (outlier flags in DQ): ``replace`` writes the frame to the library's work directory (atomically);
  that file is the member from then on.

The caller's files and models are never modified. Models given from Python are written to the work
directory first, so every member is a file.
"""

import gc
import shutil
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path

from .models import ImagerModel, LigerIrisDataModel
from .models import open as open_model

__all__ = ["FrameLibrary", "exposure_group"]


class FrameLibrary:
    """The member frames of one Level-3 product (paths or ImagerModels), in order.

    ``work_dir``: where changed frames are written (a private temporary directory, removed by ``close`` or
    when the library is garbage-collected, when not given).
    """

    def __init__(self, frames, work_dir=None):
        if isinstance(frames, FrameLibrary):
            raise TypeError("a FrameLibrary is not copied: pass it on as it is")
        frames = list(frames)
        if not frames:
            raise ValueError("a FrameLibrary needs at least one frame")
        self._own_work_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="liger_iris_frames_") if work_dir is None else work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.work_dir, ignore_errors=True)
        if not self._own_work_dir:
            self._cleanup.detach()
        self._paths = []
        self._names = []
        self._meta_updates = [{} for _ in frames]
        self._history = [[] for _ in frames]
        self._borrowed = {}  # id of a model borrowed now: its member index (its updates are applied)
        for index, frame in enumerate(frames):
            if isinstance(frame, LigerIrisDataModel):
                name = frame.meta.filename or f"frame{index:04d}.fits"
                self._names.append(name)
                self._paths.append(self._write(index, frame))
            else:
                self._names.append(Path(frame).name)
                self._paths.append(Path(frame))

    def __len__(self):
        return len(self._paths)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def names(self):
        """The members' original file names (their outputs are named after them)."""
        return tuple(self._names)

    @property
    def paths(self):
        """The files the members are read from now (the original ones, or changed copies)."""
        return tuple(self._paths)

    @contextmanager
    def frame(self, index, arrays=None):
        """Borrow member ``index``: the model read from its file with the metadata updates applied; closed (and
        its memory freed) when the block ends. ``arrays`` reads only those arrays (``datamodels.open``)."""
        model = open_model(self._paths[index], ImagerModel if arrays is not None else None, arrays=arrays)
        try:
            model.meta.filename = self._names[index]
            self._apply_updates(index, model)
            self._borrowed[id(model)] = index
            yield model
        finally:
            self._borrowed.pop(id(model), None)
            model.close()
            if arrays is None or arrays:
                # A data model is a reference cycle: without a collection its arrays (~400 MiB for a 4096x4096
                # frame) would wait for the next full one, and memory would grow with the frames borrowed.
                del model
                gc.collect()

    def update_meta(self, index, values):
        """Set metadata of member ``index`` (``{"meta.wcs": gwcs, ...}``) whenever it is borrowed."""
        self._meta_updates[index].update(values)

    def add_history_entry(self, index, entry, software=None):
        """Add the HISTORY ``entry`` (by ``software``, a dict as stdatamodels') to member ``index`` whenever it
        is borrowed."""
        self._history[index].append((entry, software))

    def meta_updates(self, index):
        """The metadata updates of member ``index`` so far."""
        return dict(self._meta_updates[index])

    def replace(self, index, model, path=None):
        """Make ``model`` member ``index``, written to ``path`` (a step's output file) or else to the work
        directory; its metadata updates and HISTORY entries are then part of the file (applied once: a model
        borrowed as that member has them already)."""
        if self._borrowed.get(id(model)) != index:
            self._apply_updates(index, model)
        self._paths[index] = self._write(index, model, path)
        self._meta_updates[index], self._history[index] = {}, []

    def close(self):
        """Remove the private work directory (a caller's work directory is left as it is)."""
        self._cleanup()

    def _apply_updates(self, index, model):
        for path, value in self._meta_updates[index].items():
            _set_meta(model, path, value)
        for entry, software in self._history[index]:
            model.add_history_entry(entry, software=software)

    def _write(self, index, model, path=None):
        path = Path(path) if path is not None else self.work_dir / f"{index:04d}_{Path(self._names[index]).name}"
        name = model.meta.filename
        model.save(path)
        model.meta.filename = name
        return path


def _set_meta(model, path, value):
    """Set the dotted ``path`` (``meta.background.level``) of ``model``."""
    *parents, leaf = path.split(".")
    node = model
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)


def exposure_group(meta):
    """The exposure a frame (its ``meta``) belongs to, shared by every detector of that exposure (one telescope
    pointing; the Level-3 steps treat its frames as one group, as jwst's ``group_id``): ('exposure', program,
    observation, exposure number) when the three are known, else ('start', DATE-OBS, TIME-OBS); None when neither
    is (the frame is a group of its own)."""
    program, observation = meta.observation.program_number, meta.observation.observation_number
    if None not in (program, observation, meta.exposure.number):
        return ("exposure", str(program), str(observation), int(meta.exposure.number))
    if meta.observation.date and meta.observation.time:
        return ("start", str(meta.observation.date), str(meta.observation.time))
    return None
