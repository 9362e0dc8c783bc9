"""Shared fixtures."""

import contextlib
import subprocess

import numpy as np
import pytest

from frames import SHAPE, make_frame, make_reference
from liger_iris_pipeline import datamodels


@pytest.fixture
def calibration_files(tmp_path):
    """A raw frame with known values and mask/dark/flat references, written to ``tmp_path``.

    SCI 10 DN/s with ERR 1 everywhere; mask DEAD at (1, 2); dark 2 +- 0.5 DN/s with HOT at (3, 4) and NaN at (0, 7);
    flat 0.5 +- 0.01 with 0 at (5, 0), NaN at (5, 1) and UNRELIABLE_FLAT at (2, 2).
    """
    flags = datamodels.dqflags.pixel
    sci = np.full(SHAPE, 10.0)
    raw = make_frame(sci, err=np.ones(SHAPE))
    mask_dq = np.zeros(SHAPE, np.uint32)
    mask_dq[1, 2] = flags["DEAD"] | flags["DO_NOT_USE"]
    dark = np.full(SHAPE, 2.0, np.float32)
    dark[0, 7] = np.nan
    dark_dq = np.zeros(SHAPE, np.uint32)
    dark_dq[3, 4] = flags["HOT"]
    flat = np.full(SHAPE, 0.5, np.float32)
    flat[5, 0] = 0.0
    flat[5, 1] = np.nan
    flat_dq = np.zeros(SHAPE, np.uint32)
    flat_dq[2, 2] = flags["UNRELIABLE_FLAT"]
    models = {
        "raw": raw,
        "mask": make_reference(datamodels.MaskModel, "MASK", dq=mask_dq),
        "dark": make_reference(
            datamodels.DarkModel, "DARK", data=dark, err=np.full(SHAPE, 0.5, np.float32), dq=dark_dq
        ),
        "flat": make_reference(
            datamodels.FlatModel, "FLAT", data=flat, err=np.full(SHAPE, 0.01, np.float32), dq=flat_dq
        ),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits" if name == "raw" else tmp_path / f"{name}.fits"
        model.save(paths[name])
    return paths


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody can write to, root included (mode 555, and immutable when running as root)."""
    directory = tmp_path / "ro"
    directory.mkdir()
    with read_only(directory):
        yield directory


@contextlib.contextmanager
def read_only(directory):
    """Make the existing ``directory`` one nobody can write to while the block runs (skip the test if that
    cannot be done here)."""
    directory.chmod(0o555)
    immutable = False
    if _writable(directory):  # root ignores permission bits
        immutable = subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0
        if not immutable or _writable(directory):
            pytest.skip("cannot make a directory read-only here")
    try:
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


def _writable(directory):
    probe = directory / ".probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True
