"""The log and the failures of a workflow job (the Snakemake scripts of ``scripts/``).

A job writes its log to its rule's log file (stderr is redirected there) and Snakemake prints that file when
the job fails (``show-failed-logs`` in ``profiles/default``), so the last line of the log is what the user reads
on the terminal. ``job_log`` makes that last line one line naming the file and the cause:

- an error the package expects (its own ``ValueError`` subclasses, each with a one-line message naming the
  file: ``DataModelError``, ``StepInputError``, ``FetchError``...) or a failed system call (a full disk, a
  read-only directory): ``error: <file>: <problem>``, without a traceback;
- any other exception (a bug): its traceback, then the same one line;
- a job stopped by a signal (SIGTERM from a scheduler's time limit or ``scancel``, SIGHUP, SIGXCPU, SIGINT; see
  ``liger_iris_pipeline.stopping``): ``error: <outputs>: stopped by SIGTERM``, after the atomic writers have
  removed their temporaries.

The job then exits with status 1 (128 + the signal's number when stopped by one), so Snakemake fails it and
removes its outputs. Nothing is printed to the terminal directly: a cluster job has none.
"""

import contextlib
import sys
import traceback

from ..atomic import os_error_reason
from ..stopping import Stopped, stopping_signals

PACKAGE = __package__.partition(".")[0]


def is_expected(error):
    """Whether ``error`` is one the package expects: a failed system call, or a ValueError subclass of the
    package's own, whose message is one line naming the file and the problem."""
    if isinstance(error, OSError):
        return True
    return isinstance(error, ValueError) and any(
        cls.__module__.partition(".")[0] == PACKAGE for cls in type(error).__mro__ if issubclass(cls, ValueError)
    )


def one_line(error):
    """``error`` as one line: an OSError as ``<file>: <system's words>``, anything else as its message (or its
    type when it has none), its whitespace folded."""
    if isinstance(error, OSError) and error.strerror:
        files = [name for name in (error.filename, error.filename2) if name]
        message = f"{' -> '.join(map(str, files))}: {os_error_reason(error)}" if files else os_error_reason(error)
    else:
        message = str(error) or type(error).__name__
        if not is_expected(error):
            message = f"{type(error).__name__}: {message}"
    return " ".join(message.split())


@contextlib.contextmanager
def job_log(path, outputs=()):
    """Run the block with stderr in the log file ``path``; on failure end the log with one line (see the
    module) and exit. ``outputs``: the job's output files, named when a signal stops it."""
    with open(path, "w") as log, contextlib.redirect_stderr(log), stopping_signals():
        try:
            yield log
        except Stopped as stopped:
            named = list(map(str, outputs))[:3] + (["..."] if len(outputs) > 3 else [])
            print(f"error: {', '.join(named) or 'job'}: stopped by {stopped}", file=log, flush=True)
            status = stopped.exit_status
        except Exception as error:
            if not is_expected(error):
                traceback.print_exc(file=log)
            print(f"error: {one_line(error)}", file=log, flush=True)
            status = 1
        else:
            status = 0
    if status:
        sys.exit(status)
