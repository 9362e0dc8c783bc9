"""Running the project's commands in tests: their paths, a clean environment, and their one-line errors."""

import os
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def command(name):
    """Path of a console script of this environment."""
    return str(BIN / name)


def clean_environment(**settings):
    """This process's environment without its CRDS_* settings, with this environment's scripts first on PATH,
    plus ``settings``."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
    clean["PATH"] = f"{BIN}{os.pathsep}{clean['PATH']}"
    return {**clean, **{key: str(value) for key, value in settings.items()}}


def assert_one_line_error(result, program, *fragments):
    """The command failed with exit status 1 and a last stderr line ``<program>: error: ...`` naming ``fragments``."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"{program}: error: "), last_line
    for fragment in fragments:
        assert fragment in last_line, last_line
