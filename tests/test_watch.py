"""The real-time watcher (liger-iris-watch): frames reduced as they land, each exactly once, as the workflow would."""

import json
import os
import queue
import shutil
import signal
import subprocess
import threading

import numpy as np
import pytest

from commands import clean_environment, command
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.watch.completeness import fits_complete
from liger_iris_pipeline.watch.ledger import Ledger
from test_workflow import snakemake
from workflow_copy import copy_workflow

#: Longest wait (seconds) for one line of the watcher; a bound for a failing test, not a synchronisation.
LINE_TIMEOUT = 120
ARRAYS = ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat")


class WatcherProcess:
    """``liger-iris-watch`` running in ``directory``; its JSON status lines read as they come."""

    def __init__(self, directory):
        self.log = directory / "watcher.stderr"  # its logging; a pipe nobody reads would fill and stop it
        with open(self.log, "a") as stderr:
            self.process = subprocess.Popen(
                [command("liger-iris-watch")], cwd=directory, stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=clean_environment(),
            )
        self.lines = queue.Queue()
        self.seen = []  # every status line read so far
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, event, count=1):
        """The next ``count`` status lines of ``event`` (the lines between are skipped)."""
        found = []
        while len(found) < count:
            line = self.lines.get(timeout=LINE_TIMEOUT)
            assert line is not None, f"the watcher ended: {self.process.wait()} {self.log.read_text()[-3000:]}"
            self.seen.append(line)
            if line["event"] == event:
                found.append(line)
        return found

    def stop(self, number=signal.SIGTERM):
        self.process.send_signal(number)
        return self.process.wait(timeout=LINE_TIMEOUT)


@pytest.fixture
def night(tmp_path):
    """A workflow copy whose observation's frames land in raw/ (empty), three simulated IRIS frames beside it."""
    simulated = simulate_observation(tmp_path / "source", size=128, n_exposures=3, seed=51, n_stars=20)
    add_references(tmp_path / "store", [simulated.mask, simulated.dark, simulated.flat])
    (tmp_path / "raw").mkdir()
    copy_workflow(
        tmp_path, [{"name": "field", "instrument": "IRIS", "raw": ["raw/*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"]}]
    )
    return tmp_path, simulated


def land_by_rename(frame, raw):
    """The instrument writes the frame beside and renames it in."""
    temporary = raw / f".{frame.name}.part"
    shutil.copyfile(frame, temporary)
    os.rename(temporary, raw / frame.name)


def land_in_place(frame, raw, pieces=7):
    """The instrument writes the frame where it lands, in pieces."""
    data = frame.read_bytes()
    step = -(-len(data) // pieces)
    with open(raw / frame.name, "wb") as stream:
        for start in range(0, len(data), step):
            stream.write(data[start : start + step])
            stream.flush()
            os.fsync(stream.fileno())


def logged(directory, event):
    """The frames of every ``event`` line in the watcher's log, over all its runs, with their lines."""
    lines = (json.loads(line) for line in (directory / "results" / "watch" / "watch.jsonl").read_text().splitlines())
    return [(os.path.basename(line["frame"]), line) for line in lines if line["event"] == event]


@pytest.mark.workflow
@pytest.mark.science
def test_frames_landing_are_reduced_as_the_workflow_reduces_them(night):
    directory, simulated = night
    raw = directory / "raw"
    watcher = WatcherProcess(directory)
    watcher.wait_for("watching")
    land_by_rename(simulated.raw[0], raw)
    land_in_place(simulated.raw[1], raw)
    watcher.wait_for("done", 2)
    reduced = [line for line in watcher.seen if line["event"] == "reduced"]
    assert [os.path.basename(line["frame"]) for line in reduced] == [simulated.raw[0].name, simulated.raw[1].name]
    assert {line["context"] for line in reduced} == {"ligeriri_0001.pmap"}
    assert watcher.stop() == 0  # SIGTERM: it finishes and exits

    # The next day's workflow over the same night reduces every frame itself (the watcher's tree is not its own).
    snakemake(directory)
    for frame in simulated.raw[:2]:
        stem = frame.name.removesuffix(".fits")
        with datamodels.open(directory / "results" / "watch" / "field" / f"{stem}_cal.fits") as ours, \
                datamodels.open(directory / "results" / "field" / f"{stem}_cal.fits") as workflow:
            for name in ARRAYS:
                np.testing.assert_array_equal(getattr(ours, name), getattr(workflow, name), err_msg=name)
            for reftype in ("mask", "dark", "flat", "distortion"):
                assert getattr(ours.meta.ref_file, reftype).name == getattr(workflow.meta.ref_file, reftype).name
            assert ours.meta.ref_file.crds.context_used == workflow.meta.ref_file.crds.context_used
            assert ours.meta.cal_step.instance == workflow.meta.cal_step.instance
        for product in ("quicklook.png", "qa.ecsv", "stars.ecsv", "stars.reg"):
            assert (directory / "results" / "watch" / "field" / f"{stem}_cal_{product}").is_file()


@pytest.mark.workflow
def test_a_watcher_killed_and_restarted_reduces_every_frame_exactly_once(night):
    """Frames that landed while no watcher ran are taken in; SIGKILL after the first frame's product loses none
    and duplicates none; a bad frame is reported and skipped."""
    directory, simulated = night
    raw = directory / "raw"
    for frame in simulated.raw:
        shutil.copy(frame, raw / frame.name)
    broken = raw / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0009.fits"  # a whole FITS file, but no frame
    datamodels.ImagerModel(data=np.zeros((4, 4), np.float32)).save(broken)
    watcher = WatcherProcess(directory)
    watcher.wait_for("done")
    watcher.stop(signal.SIGKILL)

    watcher = WatcherProcess(directory)
    watcher.wait_for("watching")
    # The new frame that lands after the restart is taken in too, after the others.
    extra = simulate_observation(directory / "later", size=128, n_exposures=1, seed=52, n_stars=20, observation="002")
    land_by_rename(extra.raw[0], raw)
    ledger = Ledger(directory / "results" / "watch" / "ledger.sqlite")
    while ledger.status()["counts"]["done"] < 4:  # the ledger is the truth; its change comes before the line
        watcher.wait_for("done")
    assert watcher.stop() == 0
    status = ledger.status()
    assert status["counts"] == {"pending": 0, "running": 0, "reduced": 0, "done": 4, "failed": 1}
    # Each frame calibrated and finished once over both runs (a line may be lost to SIGKILL, never repeated).
    for event in ("reduced", "done"):
        frames = [frame for frame, _ in logged(directory, event)]
        assert len(frames) == len(set(frames)), (event, frames)
    failed = logged(directory, "failed")
    assert [frame for frame, _ in failed] == [broken.name] and broken.name in failed[0][1]["error"]
    for frame in [*simulated.raw, extra.raw[0]]:
        assert (directory / "results" / "watch" / "field" / f"{frame.stem}_cal_stars.reg").is_file()
    assert not list((directory / "results" / "watch").rglob(".*.part*"))  # no temporary of a killed write is left

    result = subprocess.run(
        [command("liger-iris-watch"), "status"], cwd=directory, capture_output=True, text=True, env=clean_environment()
    )
    assert result.returncode == 0 and json.loads(result.stdout)["counts"]["done"] == 4


def test_a_frame_is_whole_only_when_every_hdu_is_there(tmp_path):
    simulated = simulate_observation(tmp_path, size=32, n_exposures=1, seed=1, n_stars=2)
    data = simulated.raw[0].read_bytes()
    assert fits_complete(simulated.raw[0])
    cut = tmp_path / "cut.fits"
    for size in (0, 100, 2880, len(data) - 2880, len(data) - 1):
        cut.write_bytes(data[:size])
        assert not fits_complete(cut), size
    cut.write_bytes(data + b"\0" * 10)
    assert not fits_complete(cut)


def test_the_ledger_keeps_each_frame_once_in_the_order_they_completed(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.add("b.fits", "field", completed=2.0) and ledger.add("a.fits", "field", completed=1.0)
    assert not ledger.add("a.fits", "field", completed=3.0)
    assert ledger.next_pending() == ("a.fits", "field")
    ledger.start("a.fits")
    assert ledger.next_pending() == ("b.fits", "field")
    # A watcher killed while reducing a.fits: on restart it is pending again, still before b.fits.
    restarted = Ledger(tmp_path / "ledger.sqlite")
    assert restarted.recover() == 1 and restarted.next_pending() == ("a.fits", "field")
    restarted.start("a.fits")
    restarted.reduced("a.fits")
    restarted.finish("a.fits")
    restarted.start("b.fits")
    restarted.fail("b.fits", "b.fits: not a frame")
    status = restarted.status()
    assert status["counts"] == {"pending": 0, "running": 0, "reduced": 0, "done": 1, "failed": 1}
    assert status["failed"] == [{"path": "b.fits", "error": "b.fits: not a frame"}]
    assert status["last_latency_s"] > 0
