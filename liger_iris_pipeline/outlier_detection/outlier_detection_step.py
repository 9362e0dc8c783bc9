"""OutlierDetectionStep: flag what one frame has and the others do not (residual cosmic rays, new hot pixels)."""

import logging
import tempfile
from contextlib import ExitStack
from functools import partial

import numpy as np
from drizzle.resample import blot_image

from ..base_step import LigerIrisStep, StepInputError
from ..dqflags import pixel as dq_flags
from ..forked import ForkPool, SlotArrays
from ..resample.drizzle_frames import DrizzleOutput, pixel_map, prepare_frame
from ..resample.frames import drizzle_frame, drizzle_inputs, frame_background, frame_geometry, output_grid
from ..resample.resample_step import DRIZZLE_SPEC
from .outlier_detection import median_in_sections, outlier_mask, weight_threshold

__all__ = ["OutlierDetectionStep"]

log = logging.getLogger(__name__)

#: DQ of a flagged pixel (jwst's).
OUTLIER_FLAGS = np.uint32(dq_flags["OUTLIER"] | dq_flags["DO_NOT_USE"])


class OutlierDetectionStep(LigerIrisStep):
    """Median of the frames drizzled one by one onto a common grid, blotted back to each frame and compared
    (outlier_detection.py); outliers get OUTLIER | DO_NOT_USE in DQ.

    Takes paths, models or a FrameLibrary and returns the FrameLibrary of the flagged frames (``_crf``, each
    with S_OUTLIR; written to the output directory when results are saved, else to the library's work
    directory; the caller closes a library the step made). The single drizzled images go to temporary files
    (``in_memory`` keeps them in memory), so only a band of rows of each is read at once for the median.
    """

    class_alias = "outlier_detection"
    combines_members = True
    spec = (
        """
    suffix = string(default='crf')  # The outlier-flagged frames (Level 3)
    maskpt = float(min=0.0, max=1.0, default=0.7)  # Single-image pixels with weight below maskpt times the frame's typical weight are left out of the median
    snr = string(default='5.0 4.0')  # Thresholds in ERR: the detection and its neighbours
    scale = string(default='1.2 0.7')  # Thresholds in units of the blotted median's local derivative
    in_memory = boolean(default=False)  # Keep the single drizzled images in memory instead of temporary files
"""
        + DRIZZLE_SPEC
    )

    def process(self, frames):
        snr, scale = _pair(self.snr, "snr"), _pair(self.scale, "scale")
        library = self.open_library(frames)
        grid = output_grid(frame_geometry(library))
        median = self._median(library, grid)
        kept = SlotArrays()
        with ForkPool(self.processes) as pool:
            for index in range(len(library)):
                arrays = kept.of(pool.reserve())
                borrowed = ExitStack()
                model = borrowed.enter_context(library.frame(index))
                if median is None:
                    self._save(library, index, model, "SKIPPED", borrowed)
                    continue
                pixmap, area = pixel_map(model.meta.wcs, model.data.shape, grid, arrays)
                blot = arrays("blot", model.data.shape, np.float32)
                flag = partial(self._flag_and_save, library, index, model, blot, area, snr, scale, borrowed)
                pool.submit(_blot, median, pixmap, blot, then=flag)
        return library

    def _median(self, library, grid):
        """The median of the frames drizzled one by one onto ``grid``, or None (with a warning) when no pixel is
        seen by two frames: one frame, or frames that do not overlap (a mosaic of separate fields), has nothing to
        compare; such frames are passed on unflagged, SKIPPED."""
        if len(library) < 2:
            log.warning("%s: one frame, nothing to compare it with: outlier detection skipped", library.names[0])
            return None
        with tempfile.TemporaryDirectory(prefix="single_", dir=library.work_dir) as scratch:
            coverage, singles = np.zeros(grid.shape, np.uint16), []

            def keep(single):
                """NaN where the single image's weight is below maskpt times its typical weight; kept in memory or
                in a file."""
                image = single.sci
                image[~(single.wht >= weight_threshold(single.wht, self.maskpt))] = np.nan
                np.add(coverage, np.isfinite(image), out=coverage)
                singles.append(np.array(image) if self.in_memory else ImageFile(f"{scratch}/{len(singles):04d}.f32", image))

            kept, singles_of_slot = SlotArrays(), {}
            with ForkPool(self.processes) as pool:
                for index in range(len(library)):
                    slot = pool.reserve()
                    arrays = kept.of(slot)
                    with drizzle_frame(library, index) as model:
                        inputs = drizzle_inputs(model, grid, self.weight_type, self.good_bits, arrays)
                        frame = prepare_frame(**inputs, kernel=self.kernel, with_variances=False, arrays=arrays)
                    if slot not in singles_of_slot:
                        singles_of_slot[slot] = DrizzleOutput(grid.shape, variances=False, context=False)
                    single = singles_of_slot[slot]
                    pool.submit(_drizzle_alone, single, frame, self.kernel, self.pixfrac, then=partial(keep, single))
            if coverage.max(initial=0) < 2:
                log.warning("%s...: no pixel is seen by two frames: outlier detection skipped", library.names[0])
                return None
            return median_in_sections(singles)

    def _flag_and_save(self, library, index, model, blot, area, snr, scale, borrowed):
        """Flag the outliers of frame ``index`` against its blotted median (DN/s per output pixel, times the
        pixel ``area``: per input pixel), then record and save it and give it back."""
        blot *= area
        outliers = outlier_mask(model.data, blot, model.err, snr, scale, frame_background(model))
        new = outliers & (model.dq & OUTLIER_FLAGS != OUTLIER_FLAGS)
        model.dq[outliers] |= OUTLIER_FLAGS
        log.info("%s: %d outlier pixels flagged (%.3g %%)", model.meta.filename, new.sum(), 100.0 * new.mean())
        self._save(library, index, model, "COMPLETE", borrowed)

    def _save(self, library, index, model, status, borrowed):
        """Record the step in frame ``index``, put it back into the library (its file: ``_crf`` in the output
        directory when results are saved) and give it back."""
        with borrowed:
            self.record(model, status)
            self.finalize_result(model, [])
            path = self.make_output_path(basepath=model.meta.filename, suffix=self.suffix) if self.save_results else None
            library.replace(index, model, path)


def _drizzle_alone(single, frame, kernel, pixfrac):
    """``frame`` drizzled alone onto the emptied ``single`` (numpy and drizzle only: runs in a forked process)."""
    single.reset()
    single.add(frame, 0, kernel, pixfrac)


def _blot(median, pixmap, out):
    """The ``median`` image interpolated at the ``pixmap`` positions (drizzle's blot, its default poly5) into
    ``out``, NaN where it has no value (numpy and drizzle only: runs in a forked process)."""
    blot_image(median, pixmap, out_img=out, fillval=np.nan)


class ImageFile:
    """A float32 image written to a raw file and read back a band of rows at a time (``image[start:stop]``),
    with plain reads: unlike a memory map, the rows read do not stay in the process's memory."""

    def __init__(self, path, image):
        self.path, self.shape = path, image.shape
        np.ascontiguousarray(image, np.float32).tofile(path)

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        width = self.shape[1]
        band = np.fromfile(self.path, np.float32, count=max(stop - start, 0) * width, offset=start * width * 4)
        return band.reshape(-1, width)


def _pair(text, name):
    """Two numbers from a string such as '5.0 4.0'; StepInputError otherwise."""
    try:
        values = tuple(float(value) for value in str(text).split())
    except ValueError:
        values = ()
    if len(values) != 2:
        raise StepInputError(f"outlier_detection: {name} {text!r} is not two numbers (e.g. '5.0 4.0')")
    return values
