"""``tmtrun`` from the shell: exit status, outputs, and one-line errors that name the file."""

import re
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from commands import assert_one_line_error, command
from frames import SHAPE, file_digest, make_frame, make_reference
from liger_iris_pipeline import cli, datamodels
from liger_iris_pipeline.parameter_files import asdf_step_tree

TMTRUN = command("tmtrun")
RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


def tmtrun(*args, cwd=None):
    return subprocess.run([TMTRUN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def reference_options(paths):
    return [
        f"--steps.dq_init.override_mask={paths['mask']}",
        f"--steps.dark_current.override_dark={paths['dark']}",
        f"--steps.flat_field.override_flat={paths['flat']}",
        "--steps.assign_wcs.override_distortion=N/A",
    ]


def test_pipeline_by_alias_writes_the_cal_frame(calibration_files, tmp_path):
    out = tmp_path / "out"
    result = tmtrun("process_imager_l2", calibration_files["raw"], "--output-dir", out, *reference_options(calibration_files))
    assert result.returncode == 0, result.stderr
    with datamodels.open(out / RAW_NAME.replace(".fits", "_cal.fits")) as cal:
        assert cal.meta.cal_step.flat_field == "COMPLETE"
        assert cal.data[0, 0] == pytest.approx((10 - 2) / 0.5)


def test_step_by_class_name_with_cfg_parameter(calibration_files, tmp_path):
    result = tmtrun(
        "FlatFieldStep", calibration_files["raw"], f"--output-dir={tmp_path}", f"--override-flat={calibration_files['flat']}"
    )
    assert result.returncode == 0, result.stderr
    with datamodels.open(tmp_path / RAW_NAME.replace(".fits", "_flat.fits")) as flat:
        assert flat.data[0, 0] == pytest.approx(20.0)


def test_pipeline_from_cfg_file_with_a_skipped_step(calibration_files, tmp_path):
    cfg = tmp_path / "l2.cfg"
    cfg.write_text('class = "liger_iris_pipeline.ProcessImagerL2Pipeline"\n[steps]\n  [[dark_current]]\n    skip = True\n')
    result = tmtrun(cfg, calibration_files["raw"], "--output-dir", tmp_path, *reference_options(calibration_files))
    assert result.returncode == 0, result.stderr
    assert fits.getheader(tmp_path / RAW_NAME.replace(".fits", "_cal.fits"))["S_DARK"] == "SKIPPED"


def test_save_parameters_writes_an_asdf_file_that_tmtrun_takes_back(calibration_files, tmp_path, capsys):
    """jwst's way to a parameter file: ``--save-parameters`` (given no input, it runs nothing), edited or not, then
    ``tmtrun <file> <input>``; saving the file's parameters again gives the same file."""
    saved, again, out = tmp_path / "l2.asdf", tmp_path / "again.asdf", tmp_path / "out"
    result = tmtrun("process_imager_l2", "--save-parameters", saved, "--steps.flat_field.skip=true")
    assert result.returncode == 0 and result.stdout == f"parameters saved to {saved}\n", result.stderr
    assert cli.main([str(saved), f"--save-parameters={again}"]) == 0  # in this process: it runs no step
    assert capsys.readouterr().out == f"parameters saved to {again}\n"
    assert asdf_step_tree(again) == asdf_step_tree(saved)
    steps = {step["name"]: step["parameters"] for step in asdf_step_tree(saved)["steps"]}
    assert steps["flat_field"]["skip"] is True and steps["dark_current"]["skip"] is False

    result = tmtrun(saved, calibration_files["raw"], "--output-dir", out, *reference_options(calibration_files))
    assert result.returncode == 0, result.stderr
    with datamodels.open(out / RAW_NAME.replace(".fits", "_cal.fits")) as cal:
        assert cal.meta.cal_step.flat_field == "SKIPPED" and cal.meta.cal_step.dark_current == "COMPLETE"
        assert cal.data[0, 0] == pytest.approx(10 - 2)


def test_non_fits_input(tmp_path):
    notes = tmp_path / "notes.fits"
    notes.write_text("not pixels")
    result = tmtrun("dq_init", notes, "--override-mask=N/A", "--output-dir", tmp_path / "out")
    assert_one_line_error(result, "tmtrun", "notes.fits", "not a readable FITS file")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_keyword(tmp_path):
    path = tmp_path / RAW_NAME
    make_frame(np.zeros(SHAPE)).save(path)
    with fits.open(path, mode="update") as hdulist:
        del hdulist["ASDF"]
        del hdulist[0].header["DETECTOR"]
    digest = file_digest(path)
    result = tmtrun("assign_wcs", path, "--output-dir", tmp_path, "--override_distortion=N/A")
    assert_one_line_error(result, "tmtrun", RAW_NAME, "missing required keyword(s) DETECTOR")
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == [RAW_NAME]


@pytest.mark.parametrize(
    ("reftype", "model_class", "arrays"),
    [
        ("mask", datamodels.MaskModel, {"dq": np.zeros((4, 4), np.uint32)}),
        ("dark", datamodels.DarkModel, {"data": np.zeros((4, 4), np.float32)}),
        ("flat", datamodels.FlatModel, {"data": np.ones((4, 4), np.float32)}),
    ],
)
def test_reference_of_wrong_shape(calibration_files, tmp_path, reftype, model_class, arrays):
    wrong = tmp_path / f"wrong_{reftype}.fits"
    make_reference(model_class, reftype.upper(), **arrays).save(wrong)
    digest = file_digest(calibration_files["raw"])
    out = tmp_path / "out"
    out.mkdir()
    paths = {**calibration_files, reftype: wrong}
    result = tmtrun("process_imager_l2", calibration_files["raw"], "--output-dir", out, *reference_options(paths))
    assert_one_line_error(result, "tmtrun", f"wrong_{reftype}.fits", "reference shape (4, 4) does not match", RAW_NAME)
    assert file_digest(calibration_files["raw"]) == digest
    assert list(out.iterdir()) == []


def test_read_only_output_directory(calibration_files, read_only_dir):
    digest = file_digest(calibration_files["raw"])
    result = tmtrun("process_imager_l2", calibration_files["raw"], "--output-dir", read_only_dir, *reference_options(calibration_files))
    assert_one_line_error(result, "tmtrun", f"{read_only_dir.name}/{RAW_NAME.replace('.fits', '_cal.fits')}", "cannot write")
    assert file_digest(calibration_files["raw"]) == digest
    assert list(read_only_dir.iterdir()) == []


def test_unknown_step():
    result = tmtrun("no_such_step", "x.fits")
    assert result.returncode != 0
    assert "no_such_step" in result.stderr.strip().splitlines()[-1]


PROGRESS = re.compile(r"^(\w+) done in (\d+\.\d\d) s$")


def test_pipeline_prints_one_progress_line_per_step_then_its_own(calibration_files, tmp_path):
    result = tmtrun("process_imager_l2", calibration_files["raw"], "--output-dir", tmp_path, *reference_options(calibration_files))
    assert result.returncode == 0, result.stderr
    lines = [PROGRESS.match(line) for line in result.stdout.splitlines()]
    assert all(lines), result.stdout
    names = [line.group(1) for line in lines]
    seconds = [float(line.group(2)) for line in lines]
    assert names == ["dq_init", "dark_current", "flat_field", "assign_wcs", "process_imager_l2"]
    assert sum(seconds[:-1]) <= seconds[-1] + 0.01  # the steps run inside the pipeline's time


def test_a_step_prints_its_progress_line(calibration_files, tmp_path):
    result = tmtrun("flat_field", calibration_files["raw"], "--output-dir", tmp_path, f"--override-flat={calibration_files['flat']}")
    assert result.returncode == 0, result.stderr
    assert [PROGRESS.match(line).group(1) for line in result.stdout.splitlines()] == ["flat_field"]


def log_levels(text):
    """The levels of the records of a log in stpipe's format ("<time> - <logger> - <LEVEL> - <message>")."""
    return {match.group(1) for match in re.finditer(r" - [\w.]+ - (DEBUG|INFO|WARNING|ERROR) - ", text)}


def test_logging_options_behave_as_in_strun(calibration_files, tmp_path):
    options = [calibration_files["raw"], f"--override-flat={calibration_files['flat']}"]
    default = tmtrun("flat_field", *options, "--output-dir", tmp_path / "default")
    assert "INFO" in log_levels(default.stderr) and "DEBUG" not in log_levels(default.stderr)

    verbose = tmtrun("flat_field", *options, "--output-dir", tmp_path / "verbose", "--verbose")
    assert "DEBUG" in log_levels(verbose.stderr)

    quiet = tmtrun("flat_field", *options, "--output-dir", tmp_path / "quiet", "--log-level", "WARNING")
    assert log_levels(quiet.stderr) <= {"WARNING", "ERROR"}
    assert PROGRESS.match(quiet.stdout.strip())  # progress is not a log record: still printed

    log_file = tmp_path / "run.log"
    to_file = tmtrun("flat_field", *options, "--output-dir", tmp_path / "file", f"--log-file={log_file}")
    assert to_file.returncode == 0, to_file.stderr
    assert "Step FlatFieldStep done" in log_file.read_text()
    assert "Step FlatFieldStep done" in to_file.stderr  # the terminal keeps its copy
    for result in (default, verbose, quiet, to_file):
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("arguments", [["--help"], ["assign_wcs", "--help"], ["process_imager_l2", "--help"]])
def test_help_is_plain_text_without_the_option_that_does_nothing(arguments):
    result = tmtrun(*arguments)
    assert result.returncode == 0 and result.stdout.strip()
    assert "``" not in result.stdout and ":class:`" not in result.stdout
    assert "disable-crds-steppars" not in result.stdout


def test_disable_crds_steppars_is_refused_in_one_line(tmp_path):
    result = tmtrun("assign_wcs", tmp_path / "x.fits", "--disable-crds-steppars")
    assert_one_line_error(result, "tmtrun", "--disable-crds-steppars", "no parameters from CRDS")


def test_python_dash_m_is_tmtrun(calibration_files, tmp_path):
    """``python -m liger_iris_pipeline`` runs a step as tmtrun does (jwst's ``strun`` habit)."""
    result = subprocess.run(
        [sys.executable, "-m", "liger_iris_pipeline", "process_imager_l2", calibration_files["raw"],
         f"--output-dir={tmp_path}", *reference_options(calibration_files)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("process_imager_l2 done in")
    with datamodels.open(tmp_path / RAW_NAME.replace(".fits", "_cal.fits")) as cal:
        assert cal.meta.cal_step.flat_field == "COMPLETE"
        assert cal.data[0, 0] == pytest.approx((10 - 2) / 0.5)
