"""The workflow given a bad config or a bad frame, or started twice: it stops before any job, or refuses,
with a message naming the file and the problem, and changes nothing."""

import numpy as np
import pytest
import yaml
from astropy.io import fits

from frames import file_digest
from held_job import held_run
from test_workflow import IRIS, planned_jobs, simulated, snakemake, workdir  # noqa: F401 (fixtures)
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
    # One line: the selection job's log ends with it (Snakemake prints the log), without a chained traceback.
    log = (workdir / "results" / "logs" / "crds_select.log").read_text().splitlines()
    assert log[-1] == f"error: {bad.name}: SCI has no finite value (all NaN or infinite)"
    assert "Traceback" not in result.stdout + result.stderr
    assert file_digest(bad) == digest
    assert not list((workdir / "results").rglob("*_cal.fits"))


def test_a_second_run_on_the_same_directory_refuses_while_the_first_runs(workdir):
    """The first run's locks are live (its owner runs): the second refuses, and does not take them for stale."""
    with held_run(workdir):
        second = snakemake(workdir, check=False)
    assert second.returncode == 1
    assert "Directory cannot be locked" in second.stderr, second.stderr[-3000:]
    assert "removed the locks" not in second.stderr


def test_a_configfile_replaces_the_default_config(workdir):
    """--configfile is a whole night: nothing of config/config.yaml (here, its calibrations) is merged into it."""
    night = read_config(workdir)
    (workdir / "my_night.yaml").write_text(yaml.safe_dump(night))
    edit_config(
        workdir,
        lambda config: config.update(
            calibrations=[{"name": "darks", "type": "dark", "instrument": "IRIS", "raw": [f"raw/iris/{IRIS[0]}.fits"]}]
        ),
    )
    assert ("master_dark", "") in planned_jobs(workdir)
    jobs = planned_jobs(workdir, "--configfile", "my_night.yaml")
    assert not {rule for rule, _ in jobs} & {"master_dark", "crds_add_calibrations"}, jobs


def test_a_step_parameter_that_does_not_fit_the_step_stops_the_run_naming_it(workdir):
    edit_config(workdir, lambda config: config["observations"][0].update(steps={"flat_field": {"sigmaa": 3}}))
    result = snakemake(workdir, "--dry-run", check=False)
    assert_stopped_before_any_job(workdir, result, "with observations/0/steps/flat_field: Extra value 'sigmaa'")
    assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr[-2000:]


def test_two_observations_of_one_name_stop_the_run(workdir):
    edit_config(workdir, lambda config: config["observations"].append(dict(config["observations"][0])))
    result = snakemake(workdir, "--dry-run", check=False)
    assert_stopped_before_any_job(workdir, result, "error: config: observations: two are named iris_field")
