"""A workflow job stopped by a signal mid-step, for tests/test_workflow_batch_faults.py, on PYTHONPATH only there:
with LIGER_IRIS_STOP_JOB naming a marker file, the first workflow step process to start (Snakemake's copy of
scripts/run_step.py) creates the marker and sends itself SIGTERM, as a scheduler's time limit would, when it opens
its first FITS file (its frame); every later one finds the marker and runs as usual."""

import os
import signal
import sys

_marker = os.environ.get("LIGER_IRIS_STOP_JOB")


def _stop_at_first_fits_open(event, arguments):
    global _marker
    if _marker and event == "open" and str(arguments[0]).endswith(".fits"):
        _marker = None
        os.kill(os.getpid(), signal.SIGTERM)


if _marker and sys.argv and sys.argv[0].endswith("run_step.py"):
    try:
        os.close(os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        _marker = None
    else:
        sys.addaudithook(_stop_at_first_fits_open)
