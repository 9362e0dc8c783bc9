"""The workflow's files: formatted as snakefmt wants, the conda environment pinned like constraints.txt, and
planning a night light (no crds or steps' stack imported)."""

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
    pins.remove("stcal==1.20.0")  # the tests' reference for ramps (installed without its dependencies), not a job's
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


def test_planning_imports_no_crds_stpipe_or_stdatamodels(tmp_path):
    """What the Snakefile and its rules import from the package, and the store's operational context they read
    for the selection, need none of the steps' stack: every snakemake start pays for what its plan imports (the
    steps' parameter check, which needs stpipe, runs only when the parameters change)."""
    imports = [
        line
        for path in (REPOSITORY / "Snakefile", *sorted((REPOSITORY / "rules").glob("*.smk")))
        for line in path.read_text().splitlines()
        if line.startswith(("from liger_iris_pipeline", "import liger_iris_pipeline"))
    ]
    assert len(imports) >= 10, imports  # the import lines of the Snakefile and of rules/common.smk at least
    config = tmp_path / "store" / "config" / "ligeriri" / "server_config"
    config.parent.mkdir(parents=True)
    metadata = {"ligeriri_0002.pmap": {"size": 1, "sha1sum": "0" * 40}}
    config.write_text(
        repr({"observatory": "ligeriri", "operational_context": "ligeriri_0002.pmap", "download_metadata": metadata})
    )
    script = "\n".join(
        [
            "import sys",
            *imports,
            f"print(store_context({str(tmp_path / 'store')!r}))",
            "print(sorted({name.split('.')[0] for name in sys.modules} & {'crds', 'stpipe', 'stdatamodels'}))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["ligeriri_0002.pmap", "[]"]
