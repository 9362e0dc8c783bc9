"""An injected failure for tests/test_slurm.py, on PYTHONPATH only there: with LIGER_IRIS_FAIL_ONCE naming a
marker file, the first workflow step process to start (Snakemake's copy of scripts/run_step.py) creates the
marker and exits with status 1; every later one finds the marker and runs as usual."""

import os
import sys

_marker = os.environ.get("LIGER_IRIS_FAIL_ONCE")
if _marker and sys.argv and sys.argv[0].endswith("run_step.py"):
    try:
        _descriptor = os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pass
    else:
        os.write(_descriptor, b"failed")
        os.close(_descriptor)
        print(f"injected failure: {sys.argv[0]} fails once (LIGER_IRIS_FAIL_ONCE)", file=sys.stderr)
        os._exit(1)
