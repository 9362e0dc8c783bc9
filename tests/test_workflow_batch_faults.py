"""Faults in the workflow's jobs, as an operator meets them: a bad frame in a batch, a reference that does not apply,
a full disk, a read-only output directory, a job stopped by its scheduler. Each says one line on the terminal naming
the file and the cause (no traceback), and nothing good is lost."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from commands import clean_environment
from conftest import read_only
from test_workflow import SNAKEMAKE, planned_jobs, snakemake
from workflow_copy import copy_workflow, read_config, write_config
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

STOP_JOB_HOOK = Path(__file__).resolve().parent / "stop_job"
EXPOSURES = tuple(f"2027A-P001-001_IRIS_IMG1_SCI_LVL1_000{number}" for number in (1, 2, 3))
LIGER = "2027A-P001-002_Liger_IMG_SCI_LVL1_0001"
CONTEXT = "ligeriri_0001.pmap"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Three IRIS frames and one Liger frame (64x64, drawn through a geometric distortion); a store of all their
    references (distortion ones included), and one without an IRIS flat (CRDS then answers N/A for the IRIS flat)."""
    root = tmp_path_factory.mktemp("simulated")
    iris = simulate_observation(
        root / "raw" / "iris", instrument="IRIS", size=64, n_exposures=3, seed=1, distortion_pixels=1.0
    )
    liger = simulate_observation(
        root / "raw" / "liger", instrument="LIGER", size=64, seed=2, observation="002", pointing=(210.8, 54.35),
        distortion_pixels=1.0,
    )
    distortions = [iris.distortion, liger.distortion]
    add_references(root / "store", [iris.mask, iris.dark, iris.flat, liger.mask, liger.dark, liger.flat, *distortions])
    add_references(
        root / "store_without_iris_flat", [iris.mask, iris.dark, liger.mask, liger.dark, liger.flat, *distortions]
    )
    return root


def workflow_copy(simulated, directory, store="store", liger=False, **settings):
    shutil.copytree(simulated / "raw", directory / "raw")
    shutil.copytree(simulated / store, directory / "store")
    observations = [{"name": "iris_field", "instrument": "IRIS", "raw": ["raw/iris/*_LVL1_000[0-9].fits"]}]
    if liger:
        observations.append({"name": "liger_field", "instrument": "LIGER", "raw": [f"raw/liger/{LIGER}.fits"]})
    copy_workflow(directory, observations, **settings)
    return directory


def assert_said_in_one_line(result, line):
    """The run failed, and said ``line`` on the terminal (Snakemake prints a failed job's log, whose last line it
    is), without a traceback."""
    assert result.returncode != 0
    printed = result.stdout + result.stderr
    assert line in printed.splitlines(), printed[-4000:]
    assert "Traceback" not in printed, printed[-4000:]


def last_log_line(path):
    return Path(path).read_text().splitlines()[-1]


def break_pointing(path):
    """Remove the pointing's RA from a raw frame (and the ASDF copy of its header): it is read and its references
    selected, but assign_wcs refuses it."""
    with fits.open(path) as hdulist:
        del hdulist[0].header["RA_PNT"]
        del hdulist["ASDF"]
        hdulist.writeto(path, overwrite=True)


def same_product(path, reference):
    with datamodels.open(path) as product, datamodels.open(reference) as expected:
        for name in ("data", "err", "dq"):
            np.testing.assert_array_equal(getattr(product, name), getattr(expected, name))
        assert product.meta.cal_step.instance == expected.meta.cal_step.instance
        assert product.meta.ref_file.instance == expected.meta.ref_file.instance


def test_a_bad_frame_in_a_batch_costs_only_itself(simulated, tmp_path):
    """A batch of three frames, the second without its pointing: the job reduces the other two, keeps their
    products staged, fails with one line naming the bad frame; once the frame is fixed, the rerun reduces it alone,
    takes the other two from the staging area, and the products equal a clean run's."""
    workdir = workflow_copy(simulated, tmp_path, fused_chain=True, frames_per_job=3, output_dir="clean")
    snakemake(workdir)  # the clean run, for comparison
    config = read_config(workdir)
    write_config(workdir, {**config, "output_dir": "results"})
    bad = workdir / "raw" / "iris" / f"{EXPOSURES[1]}.fits"
    original = bad.read_bytes()
    break_pointing(bad)

    result = snakemake(workdir, check=False)
    log = workdir / "results" / "logs" / "process_imager_l2" / "iris_field" / "batch_0001.log"
    line = (
        f"error: 1 of 3 frames failed ({bad.name}: missing required keyword(s) RA_PNT); 2 good products are staged "
        f"in results/.staged for the rerun"
    )
    assert_said_in_one_line(result, line)
    assert last_log_line(log) == line
    assert not list((workdir / "results" / "iris_field").glob("*_cal.fits"))  # Snakemake removed the job's outputs
    staged = {path.name.split(".")[0]: path.stat().st_ino for path in (workdir / "results" / ".staged" / "iris_field").iterdir()}
    assert sorted(staged) == [f"{EXPOSURES[0]}_cal", f"{EXPOSURES[2]}_cal"]

    bad.write_bytes(original)  # fixed
    snakemake(workdir)
    reduced = re.findall(r"Step process_imager_l2 running with args \('raw/iris/(\S+)\.fits',\)", log.read_text())
    assert reduced == [EXPOSURES[1]]
    for exposure in (EXPOSURES[0], EXPOSURES[2]):
        product = workdir / "results" / "iris_field" / f"{exposure}_cal.fits"
        assert f"{product.relative_to(workdir)}: reused, staged by an earlier run of this batch" in log.read_text()
        assert product.stat().st_ino == staged[f"{exposure}_cal"]  # the very file the failed run staged
    assert list((workdir / "results" / ".staged" / "iris_field").iterdir()) == []
    for exposure in EXPOSURES:
        same_product(
            workdir / "results" / "iris_field" / f"{exposure}_cal.fits", workdir / "clean" / "iris_field" / f"{exposure}_cal.fits"
        )
    assert planned_jobs(workdir) == set()


def test_a_reference_that_does_not_apply_is_said_on_the_terminal_and_in_the_qa_and_night_summary(simulated, tmp_path):
    workdir = workflow_copy(simulated, tmp_path, store="store_without_iris_flat", liger=True)
    result = snakemake(workdir)
    for exposure in EXPOSURES:
        header = fits.getheader(workdir / "results" / "iris_field" / f"{exposure}_cal.fits")
        assert [header[key] for key in ("S_DQINIT", "S_DARK", "S_FLAT", "S_WCS")] == ["COMPLETE", "COMPLETE", "SKIPPED", "COMPLETE"]
        assert (header["R_FLAT"], header["CRDS_CTX"]) == ("N/A", CONTEXT)
    # On the terminal: one line when the references are selected, one when the night is summarised.
    assert result.stdout.splitlines() == [
        f"warning: iris_field: no flat reference applies (N/A under {CONTEXT}) to 3 of 3 frames: flat_field skipped",
        "warning: 3 of 4 frames skipped calibration steps (flat_field in 3): see results/night_summary.html",
    ]
    reason = f"flat_field: no flat reference applies (N/A under {CONTEXT})"
    for exposure in EXPOSURES:
        (row,) = Table.read(workdir / "results" / "iris_field" / f"{exposure}_cal_qa.ecsv", format="ascii.ecsv")
        assert (row["skipped_steps"], row["skip_reasons"]) == ("flat_field", reason)
    (liger_row,) = Table.read(workdir / "results" / "liger_field" / f"{LIGER}_cal_qa.ecsv", format="ascii.ecsv")
    assert liger_row["skipped_steps"] is np.ma.masked  # "": nothing skipped
    summary = Table.read(workdir / "results" / "night_summary.csv", format="ascii.csv")
    skipped = {frame: reasons for frame, reasons in zip(summary["frame"], summary["skip_reasons"].filled(""))}
    assert skipped == {f"{exposure}_cal.fits": reason for exposure in EXPOSURES} | {f"{LIGER}_cal.fits": ""}
    html = (workdir / "results" / "night_summary.html").read_text()
    highlighted = [row for row in html.split("<tbody>")[1].split("</tr>") if 'class="skipped"' in row]
    assert sorted(re.search(r"[\w.-]+_cal\.fits", row).group(0) for row in highlighted) == [f"{e}_cal.fits" for e in EXPOSURES]


@pytest.fixture
def full_observation_directory(tmp_path):
    """``results/iris_field`` of a workflow copy in ``tmp_path``: a 1 MiB tmpfs of its own, full to the last byte
    (needs root; unmounted afterwards)."""
    directory = tmp_path / "results" / "iris_field"
    directory.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    with open(directory / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(bytes(4096))
        except OSError:
            pass
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


def test_a_full_disk_stops_the_batch_with_one_line_and_the_rerun_keeps_what_was_made(
    simulated, tmp_path, full_observation_directory
):
    workdir = workflow_copy(simulated, tmp_path, fused_chain=True, frames_per_job=3)
    result = snakemake(workdir, check=False)
    product = f"results/iris_field/{EXPOSURES[0]}_cal.fits"
    line = f"error: {product}: cannot write (No space left on device)"
    assert_said_in_one_line(result, line)
    assert sorted(path.name for path in full_observation_directory.iterdir()) == ["filler"]  # no temporary left
    (staged,) = (workdir / "results" / ".staged" / "iris_field").iterdir()  # the first frame's, made before the fault
    inode = staged.stat().st_ino

    (full_observation_directory / "filler").unlink()
    snakemake(workdir)
    log = (workdir / "results" / "logs" / "process_imager_l2" / "iris_field" / "batch_0001.log").read_text()
    assert f"{product}: reused, staged by an earlier run of this batch" in log
    assert len(list(full_observation_directory.glob("*_cal.fits"))) == 3
    assert (workdir / product).stat().st_ino != inode  # a copy: the staging area is on another file system
    assert planned_jobs(workdir) == set()


@pytest.fixture
def read_only_observation_directory(tmp_path):
    """``results/iris_field`` of a workflow copy in ``tmp_path``, holding an earlier file, that nobody can write
    to (immutable when running as root)."""
    directory = tmp_path / "results" / "iris_field"
    directory.mkdir(parents=True)
    (directory / "kept.txt").write_text("an earlier night's file\n")
    with read_only(directory):
        yield directory


def test_a_read_only_output_directory_stops_the_job_with_one_line(simulated, tmp_path, read_only_observation_directory):
    workdir = workflow_copy(simulated, tmp_path)
    result = snakemake(workdir, check=False)
    match = re.search(
        r"^error: results/iris_field/(\S+)_dqinit\.fits: cannot write \((Operation not permitted|Permission denied)\)$",
        result.stderr,
        re.MULTILINE,
    )
    assert match, result.stderr[-4000:]
    assert_said_in_one_line(result, match.group(0))
    assert sorted(path.name for path in read_only_observation_directory.iterdir()) == ["kept.txt"]


def test_a_job_stopped_by_its_scheduler_says_so_in_one_line_and_the_rerun_finishes(simulated, tmp_path):
    """SIGTERM, as SLURM sends at a job's time limit, while the job reads its frame (tests/stop_job)."""
    workdir = workflow_copy(simulated, tmp_path)
    marker = tmp_path / "stopped"
    result = subprocess.run(
        [SNAKEMAKE, "--cores", "1"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=clean_environment(PYTHONPATH=STOP_JOB_HOOK, LIGER_IRIS_STOP_JOB=marker),
    )
    assert marker.exists()
    match = re.search(r"^error: (results/iris_field/\S+\.fits): stopped by SIGTERM$", result.stderr, re.MULTILINE)
    assert match, result.stderr[-4000:]
    assert_said_in_one_line(result, match.group(0))
    assert not (workdir / match.group(1)).exists()
    snakemake(workdir)
    assert len(list((workdir / "results" / "iris_field").glob("*_cal.fits"))) == 3
