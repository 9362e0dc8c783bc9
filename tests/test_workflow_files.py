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


def test_the_snakefile_makes_full_collections_rare_and_freezes_at_exit():
    """workflow.garbage_collection (called by the Snakefile): third threshold raised, young ones kept, gc.freeze run at exit."""
    script = (
        "import atexit, gc\n"
        "from liger_iris_pipeline.workflow.garbage_collection import FULL_COLLECTION_EVERY, tune_garbage_collection\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0))  # exit hooks run last first\n"
        "young, middle, _ = gc.get_threshold()\n"
        "tune_garbage_collection(); tune_garbage_collection()\n"
        "assert gc.get_threshold() == (young, middle, FULL_COLLECTION_EVERY), gc.get_threshold()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
