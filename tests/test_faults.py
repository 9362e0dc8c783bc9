"""Faults while ``tmtrun`` writes its product: a process killed mid-write, a full disk. The product is
never half-written under its name, a previous product survives, and no temporary file is left."""

import os
import resource
import signal
import subprocess
import sys

import pytest

from commands import assert_one_line_error, command
from frames import file_digest
from liger_iris_pipeline import datamodels

CAL_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits"

#: tmtrun, except that the product's FITS writer writes half of the file, says so, and stalls: to be killed.
STALLING_TMTRUN = """
import os, sys, time
from astropy.io import fits
from liger_iris_pipeline import cli

write = fits.HDUList.writeto

def half_written(self, fileobj, *args, **kwargs):
    write(self, fileobj, *args, **kwargs)
    os.truncate(fileobj, os.path.getsize(fileobj) // 2)
    print("writing", fileobj, file=sys.__stdout__, flush=True)  # tmtrun holds sys.stdout
    time.sleep(600)

fits.HDUList.writeto = half_written
sys.exit(cli.main(sys.argv[1:]))
"""


#: tmtrun, except that the product's FITS writer writes half of the file, then the process gets a signal (argv[1]):
#: Ctrl-C, or a scheduler's time limit, mid-write.
SIGNALLED_TMTRUN = """
import os, signal, sys, time
from astropy.io import fits
from liger_iris_pipeline import cli

write = fits.HDUList.writeto
stopping = getattr(signal, sys.argv.pop(1))

def half_written(self, fileobj, *args, **kwargs):
    write(self, fileobj, *args, **kwargs)
    os.truncate(fileobj, os.path.getsize(fileobj) // 2)
    os.kill(os.getpid(), stopping)
    time.sleep(600)

fits.HDUList.writeto = half_written
sys.exit(cli.main(sys.argv[1:]))
"""


def tmtrun_arguments(paths, out):
    return [
        "process_imager_l2",
        str(paths["raw"]),
        "--output-dir",
        str(out),
        f"--steps.dq_init.override_mask={paths['mask']}",
        f"--steps.dark_current.override_dark={paths['dark']}",
        f"--steps.flat_field.override_flat={paths['flat']}",
        "--steps.assign_wcs.override_distortion=N/A",
    ]


def tmtrun(paths, out, **options):
    return subprocess.run([command("tmtrun"), *tmtrun_arguments(paths, out)], capture_output=True, text=True, **options)


def test_a_process_killed_mid_write_leaves_no_product_and_the_rerun_recreates_it(calibration_files, tmp_path):
    out = tmp_path / "out"
    writer = subprocess.Popen(
        [sys.executable, "-c", STALLING_TMTRUN, *tmtrun_arguments(calibration_files, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # tmtrun's progress lines come first; the stalling writer announces itself before it stalls.
        announced = next((line for line in writer.stdout if line.startswith("writing")), "")
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    assert announced.startswith("writing"), "the stalling writer never wrote"
    (temporary,) = out.iterdir()  # the half-written file, under its hidden temporary name only
    assert temporary.name.startswith(".") and ".part" in temporary.name
    assert os.path.samefile(temporary, announced.split(maxsplit=1)[1].strip())

    result = tmtrun(calibration_files, out)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in out.iterdir()] == [CAL_NAME]  # the killed writer's temporary is gone
    with datamodels.open(out / CAL_NAME) as cal:
        assert cal.data[0, 0] == pytest.approx((10 - 2) / 0.5)


@pytest.mark.parametrize("stopping", ["SIGINT", "SIGTERM"])
def test_a_run_stopped_mid_write_says_so_in_one_line_and_leaves_no_temporary(calibration_files, tmp_path, stopping):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", SIGNALLED_TMTRUN, stopping, *tmtrun_arguments(calibration_files, out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 128 + getattr(signal, stopping)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"tmtrun: error: {calibration_files['raw']}: stopped by {stopping}"
    assert list(out.iterdir()) == []  # the half-written temporary is gone


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A directory on a 1 MiB tmpfs of its own (needs root), unmounted afterwards."""
    directory = tmp_path / "tiny"
    directory.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


def fill(directory):
    """Fill the file system of ``directory`` to the last byte."""
    with open(directory / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(bytes(4096))
                filler.flush()
        except OSError:
            pass


def limit_file_size():
    """In the child: files may not grow past 1000 bytes; writing more fails with EFBIG (Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))


@pytest.mark.parametrize("fault", ["full-filesystem", "file-size-limit"])
def test_a_failed_write_keeps_the_previous_product_and_leaves_no_temporary(calibration_files, tmp_path, request, fault):
    out = request.getfixturevalue("tiny_filesystem") if fault == "full-filesystem" else tmp_path / "out"
    first = tmtrun(calibration_files, out)
    assert first.returncode == 0, first.stderr
    product = out / CAL_NAME
    digest = file_digest(product)
    if fault == "full-filesystem":
        fill(out)
        result = tmtrun(calibration_files, out)
        problem = "No space left on device"
    else:
        result = tmtrun(calibration_files, out, preexec_fn=limit_file_size)
        problem = "File too large"
    assert_one_line_error(result, "tmtrun", f"{out.name}/{CAL_NAME}: cannot write ({problem})")
    assert file_digest(product) == digest
    assert not [path.name for path in out.iterdir() if path.name.startswith(".")]
