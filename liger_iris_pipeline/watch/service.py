"""The watcher: raw frames reduced as they land, each once, with the workflow's config, references and products.

It watches the directories of the observations' ``raw`` patterns (file events, ``watchfiles``). A frame counts
once it is a whole FITS file (``completeness.fits_complete``) that has not changed for ``SETTLE_SECONDS`` after
its last event (an instrument may write in place or rename a finished file in); it then enters the ledger
(``ledger.py``) and is reduced in the order frames completed:

- references: the night's store selects them under its operational context when the frame is reduced (or the
  configured ``crds.context``), and they are copied into the night's CRDS cache, as the workflow's selection
  does; a new context is picked up by the next frame, without a restart;
- reduction: ProcessImagerL2Pipeline with the workflow's parameter file and each step's parameters of the
  config (the workflow's fused chain), the selected references given to the steps, the context recorded;
- products, under ``<output_dir>/watch/<observation>/``: ``<exposure>_cal.fits`` and its quick-look PNG, QA row
  and stars, as the workflow's; each written by rename, and skipped when already there (a frame recovered after
  a kill is finished, not reduced again).

The next day's Snakemake run over the night does not read this tree: it reduces every frame again, with its own
provenance (the watcher's products are the night's first look; pixel-identical, tested). A frame that fails is
recorded as failed with its one-line error and the service goes on. SIGTERM or SIGINT finish the frame being
reduced and stop; SIGKILL loses nothing (the ledger and the atomic writes).
"""

import fnmatch
import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..registry import BY_ALIAS
from ..workflow.job import one_line
from ..workflow.step_parameters import CHAIN_STEPS, fused_chain_parameters
from .completeness import fits_complete
from .ledger import Ledger

#: Seconds a whole file must stay unchanged after its last event before it is reduced (in-place writers).
SETTLE_SECONDS = 0.2


class Night:
    """What the watcher takes from a workflow config (validated, defaults filled by the caller)."""

    def __init__(self, config, workflow_dir="."):
        self.config = config
        self.output = Path(config["output_dir"]) / "watch"
        self.workflow_dir = Path(workflow_dir)
        self.patterns = {
            observation["name"]: [os.path.abspath(pattern) for pattern in observation.get("raw", [])]
            for observation in config["observations"]
        }

    def observation_of(self, path):
        """The first observation whose ``raw`` patterns match ``path``, or None."""
        path = os.path.abspath(path)
        for name, patterns in self.patterns.items():
            if any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
                return name
        return None

    def directories(self):
        """The directories the patterns' files are in (created if missing: the night's first frame may not be there yet)."""
        directories = sorted({os.path.dirname(pattern) for patterns in self.patterns.values() for pattern in patterns})
        for directory in directories:
            os.makedirs(directory, exist_ok=True)
        return directories

    def products(self, path, observation):
        """The frame's products: {name: path}."""
        stem = Path(path).name.removesuffix(".fits")
        base = self.output / observation / f"{stem}_cal"
        return {
            "cal": Path(f"{base}.fits"),
            "png": Path(f"{base}_quicklook.png"),
            "qa": Path(f"{base}_qa.ecsv"),
            "stars": Path(f"{base}_stars.ecsv"),
            "regions": Path(f"{base}_stars.reg"),
        }

    def step_cfg(self):
        """The workflow's parameter file of the fused chain (the config's, else config/steps/process_imager_l2.cfg)."""
        configured = self.config.get("steps", {}).get("process_imager_l2", {}).get("cfg")
        return configured or str(self.workflow_dir / "config" / "steps" / "process_imager_l2.cfg")


def calibrate_frame(night, path, observation):
    """Write the frame's calibrated product unless it exists; the CRDS context used (None if it existed)."""
    from ..pipeline.process_imager_l2 import ProcessImagerL2Pipeline  # noqa: PLC0415 (imported by Watcher.run)
    from ..reference_store import fetch_references  # noqa: PLC0415

    cal = night.products(path, observation)["cal"]
    if cal.exists():
        return None
    cal.parent.mkdir(parents=True, exist_ok=True)
    crds = night.config["crds"]
    selection = fetch_references(crds["store"], [path], crds["cache"], crds.get("context"))
    selected = selection.bestrefs[str(path)]
    steps = fused_chain_parameters(night.config, observation)["steps"]
    cache = Path(crds["cache"]) / "references" / "ligeriri"
    for step in CHAIN_STEPS:
        for reftype in BY_ALIAS[step].reftypes:
            name = selected.get(reftype, "N/A")
            steps[step][f"override_{reftype}"] = "N/A" if name == "N/A" else str(cache / name)
    result = ProcessImagerL2Pipeline.call(str(path), config_file=night.step_cfg(), steps=steps)
    result.meta.ref_file.crds.context_used = selection.context
    result.save(cal)
    return selection.context


def quicklook_products(products, catalog, settings):
    """Write the quick-look PNG, QA row and stars of the calibrated product unless they all exist: the task of
    the quick-look process (arguments plain paths and settings)."""
    from ..quicklook import quicklook_frame  # noqa: PLC0415

    if all(Path(products[name]).exists() for name in ("png", "qa", "stars", "regions")):
        return
    quicklook_frame(
        products["cal"], products["png"], products["qa"], catalog_path=catalog, stars_path=products["stars"],
        regions_path=products["regions"], stretch=settings["stretch"], max_size=settings["display_size"],
        match_radius_arcsec=settings["match_radius_arcsec"],
    )


def _quicklook_process():
    """The quick-look process's start: Ctrl-C (SIGINT to the terminal's whole group) is the watcher's to handle,
    and its imports are paid before the first frame."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .. import quicklook  # noqa: F401, PLC0415


class Watcher:
    """Watches ``night``'s directories and reduces what lands; ``report`` gets one dict per event worth a
    status line. The calibrated products are made here, one frame after the other in completion order; their
    quick-looks (a few seconds for a 4096 x 4096 frame) in a process of their own, so the next frame does not
    wait for them."""

    def __init__(self, night, ledger_path=None, report=print):
        self.night = night
        night.output.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(ledger_path or night.output / "ledger.sqlite")
        self.report = report
        self.stop = threading.Event()
        self._waiting = {}  # path -> (size, mtime_ns, monotonic and wall-clock time of its last event)
        self._quicklooks = {}  # path -> its quick-look's future

    def run(self):
        """Until ``stop`` is set: take in the frames already there, then those that land, and reduce them."""
        import watchfiles  # noqa: PLC0415

        from ..pipeline import process_imager_l2  # noqa: F401, PLC0415 (the first frame does not pay the imports)
        from ..reference_store import fetch_references  # noqa: F401, PLC0415

        recovered = self.ledger.recover()
        if recovered:
            self.report({"event": "recovered", "frames": recovered})
        directories = self.night.directories()
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no fork of this process's threads
        with ProcessPoolExecutor(1, mp_context=spawn, initializer=_quicklook_process) as self._pool:
            for path, observation in self.ledger.reduced_frames():  # calibrated before a kill, quick-look owed
                self._submit_quicklook(path, observation)
            armed = False
            for changes in watchfiles.watch(
                *directories, stop_event=self.stop, rust_timeout=int(SETTLE_SECONDS * 1000), yield_on_timeout=True,
                debounce=20, step=10, recursive=False,
            ):
                when = (time.monotonic(), time.time())  # one time for the batch: its frames go in name order
                if not armed:  # the watch is on: what landed before it (or while no watcher ran) is taken in now
                    for directory in directories:
                        for entry in os.scandir(directory):
                            self._noticed(entry.path, when)
                    self.report({"event": "watching", "directories": directories})
                    armed = True
                for change, path in changes:
                    if change != watchfiles.Change.deleted:
                        self._noticed(path, when)
                self._admit()
                self._reduce_pending()
                self._collect(wait=False)
            self._collect(wait=True)

    def _noticed(self, path, when):
        if not path.endswith(".fits") or self.night.observation_of(path) is None:
            return
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return
        self._waiting[path] = (status.st_size, status.st_mtime_ns, *when)

    def _admit(self):
        """Frames whole and unchanged for SETTLE_SECONDS since their last event go into the ledger."""
        now = time.monotonic()
        for path, (size, mtime_ns, seen, seen_wall) in list(self._waiting.items()):
            if now - seen < SETTLE_SECONDS:
                continue
            try:
                status = os.stat(path)
            except FileNotFoundError:
                del self._waiting[path]
                continue
            if (status.st_size, status.st_mtime_ns) != (size, mtime_ns):
                self._waiting[path] = (status.st_size, status.st_mtime_ns, now, time.time())
                continue
            del self._waiting[path]
            if fits_complete(path) and self.ledger.add(path, self.night.observation_of(path), seen_wall):
                self.report({"event": "complete", "frame": path})

    def _reduce_pending(self):
        while not self.stop.is_set():
            self._collect(wait=False)
            row = self.ledger.next_pending()
            if row is None:
                return
            path, observation = row
            self.ledger.start(path)
            started = time.perf_counter()
            try:
                context = calibrate_frame(self.night, path, observation)
            except Exception as error:  # a bad frame is reported and skipped; the service goes on
                self.ledger.fail(path, one_line(error))
                self.report({"event": "failed", "frame": path, "error": one_line(error)})
                continue
            self.ledger.reduced(path)
            self.report({
                "event": "reduced", "frame": path, "observation": observation, "context": context,
                "seconds": round(time.perf_counter() - started, 3),
            })
            self._submit_quicklook(path, observation)

    def _submit_quicklook(self, path, observation):
        products = {name: str(product) for name, product in self.night.products(path, observation).items()}
        catalog = Path(path).with_name(f"{Path(path).stem}_catalog.ecsv")
        self._quicklooks[path] = self._pool.submit(
            quicklook_products, products, str(catalog) if catalog.is_file() else None, self.night.config["quicklook"]
        )

    def _collect(self, wait):
        """Frames whose quick-look has finished are done (or failed); with ``wait``, all of them."""
        for path, future in list(self._quicklooks.items()):
            if not (wait or future.done()):
                continue
            del self._quicklooks[path]
            try:
                future.result()
            except Exception as error:  # the calibrated product stands; the frame is reported
                self.ledger.fail(path, f"quick-look: {one_line(error)}")
                self.report({"event": "failed", "frame": path, "error": f"quick-look: {one_line(error)}"})
                continue
            self.ledger.finish(path)
            self.report({"event": "done", "frame": path})


def json_reporter(log_path, stream=None):
    """A ``report`` that appends each event, time-stamped, as one JSON line to ``log_path`` and prints it."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def report(event):
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **event})
        with open(log_path, "a") as log:
            log.write(line + "\n")
        print(line, file=stream, flush=True)

    return report


def stop_on_signals(watcher):
    """SIGTERM and SIGINT set ``watcher.stop``: the frame being reduced is finished, then the watcher returns."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: watcher.stop.set())
