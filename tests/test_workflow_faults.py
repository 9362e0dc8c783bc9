"""The workflow given a bad config or a bad frame, or started twice: it stops before any job, or refuses,
with a message naming the file and the problem, and changes nothing."""

import signal
import subprocess
import time

import numpy as np
import pytest
from astropy.io import fits

from commands import clean_environment
from frames import file_digest
from test_workflow import IRIS, SNAKEMAKE, simulated, snakemake, workdir  # noqa: F401 (fixtures)
from workflow_copy import read_config, write_config


pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def edit_config(workdir, change):
    """Apply ``change`` to the workdir's config (a dict) and write it back."""
    config = read_config(workdir)
    change(config)
    write_config(workdir, config)


def assert_stopped_before_any_job(workdir, result, message):
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (workdir / "results").exists()


def test_a_config_with_a_wrong_type_stops_before_any_job(workdir):
    """Every key is checked by config.schema.yaml (tests/test_safety.py); here, that Snakemake applies it."""
    edit_config(workdir, lambda config: config.update(keep_intermediate="yes"))
    assert_stopped_before_any_job(workdir, snakemake(workdir, check=False), "'yes' is not of type 'boolean'")


def test_a_yte_template_in_the_config_is_refused_not_run(workdir):
    """Snakemake's own loader would run this template's expression (tests/test_safety.py shows it); the
    safe check in the Snakefile refuses the file before, so the marker file is never created."""
    marker = workdir / "executed"
    path = workdir / "config" / "config.yaml"
    lines = [line for line in path.read_text().splitlines(keepends=True) if not line.startswith("output_dir:")]
    template = f"__use_yte__: true\noutput_dir: ?__import__('pathlib').Path('{marker}').touch() or 'results'\n"
    path.write_text(template + "".join(lines))
    message = "config/config.yaml: __use_yte__ is refused (YTE templates run Python expressions)"
    assert_stopped_before_any_job(workdir, snakemake(workdir, check=False), message)
    assert not marker.exists()


def test_a_bad_raw_frame_stops_the_run_with_its_name_and_is_left_unchanged(workdir):
    bad = workdir / "raw" / "iris" / f"{IRIS[1]}.fits"
    with fits.open(bad, mode="update") as hdulist:
        hdulist["SCI"].data[:] = np.nan
    digest = file_digest(bad)
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    assert f"{bad.name}: SCI has no finite value" in result.stdout + result.stderr, result.stderr[-3000:]
    assert file_digest(bad) == digest
    assert not list((workdir / "results").rglob("*_cal.fits"))


def test_a_second_run_on_the_same_directory_refuses_while_the_first_runs(workdir):
    first = subprocess.Popen(
        [SNAKEMAKE, "--cores", "1"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=clean_environment(),
    )
    try:
        locks = workdir / ".snakemake" / "locks"
        deadline = time.monotonic() + 120
        while not (locks.is_dir() and any(locks.iterdir())) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        second = snakemake(workdir, check=False)
        assert first.poll() is None, "the first run ended before the second could be refused"
    finally:
        first.send_signal(signal.SIGINT)  # the rest of its run is another test's (test_workflow.py)
        first.wait(timeout=120)
    assert second.returncode == 1
    assert "Directory cannot be locked" in second.stderr, second.stderr[-3000:]
