"""Signals that stop a run, turned into an exception, so that a stopped run unwinds as a failed one does.

A run stopped by SIGTERM (a scheduler's time limit or cancel, ``kill``), SIGHUP (its terminal closed), SIGXCPU
(a CPU-time limit) or SIGINT (Ctrl-C) would otherwise die where it stands, silently, or print a KeyboardInterrupt
traceback. Within ``stopping_signals()`` such a signal raises ``Stopped`` instead: the atomic writers remove their
temporaries on the way out, and the program says in one line what stopped it (``tmtrun``, the workflow's jobs).
SIGKILL cannot be caught: after it, only the atomic writers' rule (nothing half-written under a final name) holds.
"""

import signal
from contextlib import contextmanager

#: The signals that stop a run and that it can still answer.
STOPPING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGXCPU, signal.SIGINT)


class Stopped(BaseException):
    """A stopping signal arrived (a BaseException: no ``except Exception`` on the way swallows it). Its text is the
    signal's name; ``exit_status`` is the shell's for a process a signal ended, 128 + its number."""

    def __init__(self, signal_number):
        super().__init__(signal.Signals(signal_number).name)
        self.exit_status = 128 + signal_number


def _stop(signal_number, frame):
    raise Stopped(signal_number)


@contextmanager
def stopping_signals():
    """Within the block, a stopping signal raises ``Stopped``; the previous handlers come back afterwards."""
    previous = {number: signal.signal(number, _stop) for number in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
