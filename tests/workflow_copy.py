"""A copy of the workflow in a test's own directory, with a config of the test's own observations."""

import shutil
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parent.parent
#: What a workflow run needs from the repository, linked (config is copied: tests rewrite it).
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "envs", "profiles", "report")


def copy_workflow(directory, observations, **settings):
    """Link the workflow into ``directory`` and write its config: the test config's settings
    (.test/config/config.yaml) with ``observations``, results in ``results/``, the reference store ``store/``
    (its CRDS cache ``crds_cache/``) and none of the demo's calibration observations; ``settings`` replace
    top-level keys. The copy's config/ (steps' .cfg files included) is its own, for tests to edit. Returns the
    config."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        (directory / name).symlink_to(REPOSITORY / name)
    shutil.copytree(REPOSITORY / "config", directory / "config")
    config = yaml.safe_load((REPOSITORY / ".test" / "config" / "config.yaml").read_text())
    config.pop("calibrations", None)
    config.update(
        output_dir="results", crds={"store": "store", "context": None, "cache": "crds_cache"}, observations=observations
    )
    config.update(settings)
    write_config(directory, config)
    return config


def read_config(directory):
    """The config of the workflow copy in ``directory``."""
    return yaml.safe_load((directory / "config" / "config.yaml").read_text())


def write_config(directory, config):
    """Replace the config of the workflow copy in ``directory``."""
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
