"""The workflow's files: formatted as snakefmt wants, and the conda environment pinned like constraints.txt."""

import subprocess
import sys
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parent.parent


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    result = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=REPOSITORY, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_conda_environment_has_the_constraints_pins():
    pins = {
        line.strip()
        for line in (REPOSITORY / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("pip==", "setuptools==", "wheel=="))
    }
    environment = yaml.safe_load((REPOSITORY / "envs" / "drs.yaml").read_text())
    (pip_section,) = [entry for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert {entry for entry in pip_section["pip"] if "==" in entry} == pins
    assert "pip=26.3" in environment["dependencies"]
