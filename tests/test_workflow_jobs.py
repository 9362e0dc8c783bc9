"""Workflow jobs without Snakemake: the one line a failed job's log ends with, the staging that keeps a batch's good
products across one frame's failure, and the lines that say which steps references that do not apply (N/A) skip."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from commands import clean_environment
from liger_iris_pipeline.atomic import write_text
from liger_iris_pipeline.datamodels import DataModelError
from liger_iris_pipeline.workflow.not_applicable import frame_uses, not_applicable_lines
from liger_iris_pipeline.workflow.plan import Night
from liger_iris_pipeline.workflow.staging import (
    BatchError,
    ProductWriteError,
    Staging,
    job_description,
    run_batch,
)

#: A workflow job: the test's lines run inside ``job_log`` (stderr to log.txt), as a Snakemake script's do.
JOB = """
import errno, os, signal, sys, time
from liger_iris_pipeline.atomic import replacing
from liger_iris_pipeline.datamodels import DataModelError
from liger_iris_pipeline.workflow.job import job_log

with job_log("log.txt", ["out/x_cal.fits"]):
    print("working on x.fits", file=sys.stderr)
{body}
"""


def run_job(directory, body):
    """(exit status, the log's lines, what the job printed to its own stdout and stderr) of a job running
    ``body``."""
    script = JOB.format(body=textwrap.indent(textwrap.dedent(body), "    "))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=directory, capture_output=True, text=True, env=clean_environment()
    )
    return result.returncode, (directory / "log.txt").read_text().splitlines(), result.stdout + result.stderr


@pytest.mark.parametrize(
    "body, last_line",
    [
        (
            """
            try:
                open("missing.fits")
            except OSError as error:
                raise DataModelError("x.fits: SCI has no finite value\\n(all NaN)") from error
            """,
            "error: x.fits: SCI has no finite value (all NaN)",
        ),
        (
            'raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/x_cal.fits")',
            "error: out/x_cal.fits: No space left on device",
        ),
    ],
    ids=["package-error-chained", "full-disk"],
)
def test_an_expected_failure_ends_the_log_with_one_line_and_no_traceback(tmp_path, body, last_line):
    status, log, printed = run_job(tmp_path, body)
    assert status == 1
    assert log == ["working on x.fits", last_line]
    assert printed == ""  # nothing on the terminal but what Snakemake prints of the log


def test_a_read_only_output_directory_is_one_line_naming_the_file(tmp_path, read_only_dir):
    status, log, printed = run_job(tmp_path, f'open("{read_only_dir}/x_cal.fits", "w")')
    assert status == 1
    assert log[-1] in (
        f"error: {read_only_dir}/x_cal.fits: {reason}" for reason in ("Permission denied", "Operation not permitted")
    )
    assert "Traceback (most recent call last):" not in log and printed == ""


def test_a_bug_keeps_its_traceback_in_the_log_above_the_one_line(tmp_path):
    status, log, printed = run_job(tmp_path, "{}['key']")
    assert status == 1
    assert log[1] == "Traceback (most recent call last):"
    assert log[-1] == "error: KeyError: 'key'"
    assert printed == ""


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_job_stopped_by_a_signal_says_so_in_one_line_and_leaves_no_temporary(tmp_path, signal_name):
    """A scheduler's time limit (SIGTERM), Ctrl-C, a closed terminal: the job stops mid-write; its log ends with
    one line naming its output and the signal, and the atomic writer's temporary is gone."""
    (tmp_path / "out").mkdir()
    body = f"""
    with replacing("out/x_cal.fits") as temporary:
        temporary.write_text("half a product")
        os.kill(os.getpid(), signal.{signal_name})
        time.sleep(600)
    """
    status, log, printed = run_job(tmp_path, body)
    assert status == 128 + getattr(signal, signal_name)
    assert log[-1] == f"error: out/x_cal.fits: stopped by {signal_name}"
    assert "Traceback (most recent call last):" not in log
    assert list((tmp_path / "out").iterdir()) == []
    assert printed == ""


class Product:
    """A reduced frame: its ``save`` writes the text it was made of, upper-cased."""

    def __init__(self, text):
        self.text = text

    def save(self, path):
        write_text(path, self.text.upper())


def reducer(calls):
    """A reduction that records the frames it reduces; a frame holding "bad" fails as a bad frame does."""

    def reduce(frame, backgrounds):
        calls.append(Path(frame).name)
        text = Path(frame).read_text()
        if text == "bad":
            raise DataModelError(f"{Path(frame).name}: SCI has no finite value (all NaN or infinite)")
        return Product(text + "".join(Path(background).read_text() for background in backgrounds))

    return reduce


@pytest.fixture
def night(tmp_path):
    """Three raw frames (b bad), a background, a reference, a .cfg; the batch [(frame, backgrounds, product)]."""
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    for name, text in (("a", "frame a"), ("b", "bad"), ("c", "frame c"), ("sky", " + sky"), ("flat", "flat v1")):
        (raw / f"{name}.fits").write_text(text)
    (tmp_path / "step.cfg").write_text("name = 'flat_field'\n")
    batch = [
        [str(raw / "a.fits"), [], str(out / "obs" / "a_cal.fits")],
        [str(raw / "b.fits"), [], str(out / "obs" / "b_cal.fits")],
        [str(raw / "c.fits"), [str(raw / "sky.fits")], str(out / "obs" / "c_cal.fits")],
    ]
    return tmp_path, batch


def staging_of(directory, parameters=None, context="ligeriri_0001.pmap"):
    description = job_description(
        "ProcessImagerL2Pipeline",
        parameters or {"steps": {"flat_field": {"skip": False}}},
        [directory / "step.cfg"],
        [directory / "raw" / "flat.fits"],
        context,
    )
    return Staging(directory / "out", description)


def snakemake_removes_outputs(batch):
    """What Snakemake does to every output of a failed job."""
    for _, _, product in batch:
        Path(product).unlink(missing_ok=True)


def test_a_bad_frame_fails_its_batch_in_one_line_and_the_rerun_reuses_its_batch_mates(night, capsys):
    directory, batch = night
    calls = []
    with pytest.raises(BatchError) as failure:
        run_batch(batch, reducer(calls), staging_of(directory), sys.stderr)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("1 of 3 frames failed (b.fits: SCI has no finite value (all NaN or infinite)); 2 good")
    assert calls == ["a.fits", "b.fits", "c.fits"]  # the frames after the bad one are reduced too
    assert "error: b.fits: SCI has no finite value" in capsys.readouterr().err
    staged = {path.name.split(".")[0]: path for path in (directory / "out" / ".staged" / "obs").iterdir()}
    assert sorted(staged) == ["a_cal", "c_cal"]
    staged_files = {name: (path.stat().st_ino, path.read_text()) for name, path in staged.items()}
    snakemake_removes_outputs(batch)

    (directory / "raw" / "b.fits").write_text("frame b")  # fixed
    calls.clear()
    run_batch(batch, reducer(calls), staging_of(directory), sys.stderr)
    assert calls == ["b.fits"]  # a and c are not reduced again: their staged products are the products
    out = directory / "out" / "obs"
    for name in ("a_cal", "c_cal"):
        assert ((out / f"{name}.fits").stat().st_ino, (out / f"{name}.fits").read_text()) == staged_files[name]
    assert [(out / f"{name}_cal.fits").read_text() for name in "abc"] == ["FRAME A", "FRAME B", "FRAME C + SKY"]
    assert list((directory / "out" / ".staged" / "obs").iterdir()) == []  # a successful batch keeps nothing


@pytest.mark.parametrize(
    "change",
    ["frame", "background", "reference", "cfg", "parameters", "parameter-file", "context"],
)
def test_a_staged_product_is_not_reused_when_anything_that_made_it_changed(night, change):
    directory, batch = night
    raw = directory / "raw"
    override = raw / "override_flat.fits"
    override.write_text("override v1")
    parameters = {"steps": {"flat_field": {"override_flat": str(override)}}}
    with pytest.raises(BatchError):
        run_batch(batch, reducer([]), staging_of(directory, parameters), sys.stderr)
    snakemake_removes_outputs(batch)
    (raw / "b.fits").write_text("frame b")
    context = "ligeriri_0001.pmap"
    if change == "frame":  # rewritten with the same size: another modification time
        status = (raw / "a.fits").stat()
        (raw / "a.fits").write_text("FRAME a")
        os.utime(raw / "a.fits", ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    elif change == "background":
        (raw / "sky.fits").write_text(" + more sky")
    elif change == "reference":
        (raw / "flat.fits").write_text("flat v2")
    elif change == "cfg":
        (directory / "step.cfg").write_text("name = 'flat_field'\n# edited\n")
    elif change == "parameters":
        parameters = {"steps": {"flat_field": {"override_flat": str(override)}, "dq_init": {"skip": True}}}
    elif change == "parameter-file":
        override.write_text("override v2")
    else:
        context = "ligeriri_0002.pmap"
    calls = []
    run_batch(batch, reducer(calls), staging_of(directory, parameters, context), sys.stderr)
    # A change that concerns one frame recomputes that frame; one that concerns the job recomputes them all.
    expected = {"frame": ["a.fits", "b.fits"], "background": ["b.fits", "c.fits"]}
    assert calls == expected.get(change, ["a.fits", "b.fits", "c.fits"])
    assert list((directory / "out" / ".staged" / "obs").iterdir()) == []


def test_a_product_that_cannot_be_written_stops_the_batch_naming_it(night):
    """A full disk is no frame's fault: the batch stops at once with one line naming the product; what was
    staged before stays for the rerun."""
    directory, batch = night
    (directory / "raw" / "b.fits").write_text("frame b")
    calls = []
    reduce = reducer(calls)

    def full_disk_at_b(frame, backgrounds):
        product = reduce(frame, backgrounds)
        if frame.endswith("b.fits"):
            def save(path):
                raise DataModelError(f"{path}: cannot write") from OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            product.save = save
        return product

    with pytest.raises(ProductWriteError) as failure:
        run_batch(batch, full_disk_at_b, staging_of(directory), sys.stderr)
    assert str(failure.value) == f"{batch[1][2]}: cannot write (No space left on device)"
    assert calls == ["a.fits", "b.fits"]
    assert [path.name.split(".")[0] for path in (directory / "out" / ".staged" / "obs").iterdir()] == ["a_cal"]


def test_a_product_is_copied_where_it_cannot_be_linked(night, monkeypatch):
    directory, batch = night
    (directory / "raw" / "b.fits").write_text("frame b")

    def cross_device(source, target):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), source, target)

    monkeypatch.setattr(os, "link", cross_device)
    run_batch(batch, reducer([]), staging_of(directory), sys.stderr)
    assert [(directory / "out" / "obs" / f"{name}_cal.fits").read_text() for name in "abc"] == [
        "FRAME A", "FRAME B", "FRAME C + SKY",
    ]


def test_references_that_do_not_apply_are_said_once_per_observation_and_type():
    """Frames of two observations, one of ramps: the flat is N/A for both frames of obs1, the gain for the ramp;
    a raw frame's gain N/A is not said (its reduction never asks for one)."""
    night = Night(
        config={},
        output="out",
        frames={"obs1": {"e1": "raw/e1.fits", "e2": "raw/e2.fits"}, "obs2": {"r1": "out/obs2/r1_raw.fits"}},
        ramps={"obs2": {"r1": "raw/r1.fits"}},
    )
    uses = frame_uses(night)
    assert uses == {
        "raw/e1.fits": ["obs1", ["mask", "dark", "flat", "distortion"]],
        "raw/e2.fits": ["obs1", ["mask", "dark", "flat", "distortion"]],
        "raw/r1.fits": ["obs2", ["mask", "saturation", "nonlinearity", "gain", "readnoise", "dark", "flat", "distortion"]],
    }
    found = dict.fromkeys(["mask", "dark", "flat", "saturation", "nonlinearity", "gain", "readnoise", "distortion"], "x.fits")
    bestrefs = {
        "raw/e1.fits": {**found, "flat": "N/A", "gain": "N/A", "distortion": "N/A"},
        "raw/e2.fits": {**found, "flat": "N/A", "gain": "N/A"},
        "raw/r1.fits": {**found, "gain": "N/A"},
    }
    assert not_applicable_lines(json.loads(json.dumps(bestrefs)), "ligeriri_0003.pmap", uses) == [
        "warning: obs1: no distortion reference applies (N/A under ligeriri_0003.pmap) to 1 of 2 frames: assign_wcs "
        "writes a TAN WCS without distortion",
        "warning: obs1: no flat reference applies (N/A under ligeriri_0003.pmap) to 2 of 2 frames: flat_field skipped",
        "warning: obs2: no gain reference applies (N/A under ligeriri_0003.pmap) to 1 of 1 frames: jump skipped, "
        "ramp_fit fails",
    ]
    assert not_applicable_lines({source: found for source in bestrefs}, "ligeriri_0003.pmap", uses) == []
