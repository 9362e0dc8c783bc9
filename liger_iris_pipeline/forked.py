"""Run C kernels that hold the GIL (drizzle's) in forked child processes, a few at a time.

Threads cannot overlap drizzle's kernels: they hold the GIL. A forked child sees the parent's arrays as they
were at the fork without copying them, and writes its results into arrays in shared memory (``shared_array``),
which the parent reads once the child has exited. A child must run only numpy and the kernel: the parent's
other threads (numba's workers, the FITS readers) do not exist in it and their locks may be held. It leaves
through ``os._exit``, so nothing of the parent's (atexit handlers, temporary files, buffered output) runs twice.
Where processes cannot be forked safely (not Linux) the work runs in this process, one task at a time.
"""

import mmap
import os
import signal
import sys
from collections import deque

import numpy as np

__all__ = ["CAN_FORK", "ForkPool", "SlotArrays", "shared_array"]

#: Whether tasks may run in forked processes (fork without exec is unsafe on macOS, absent on Windows).
CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")
#: Bytes of a child's error message passed back (a pipe holds at least this much without a reader).
MESSAGE_BYTES = 4096


def shared_array(shape, dtype):
    """A zero-filled numpy array in anonymous shared memory (``mmap(-1, n)`` is MAP_SHARED): what a forked
    child writes into it, the parent sees."""
    dtype, count = np.dtype(dtype), int(np.prod(shape))
    return np.frombuffer(mmap.mmap(-1, max(count * dtype.itemsize, 1)), dtype, count=count).reshape(shape)


class ForkPool:
    """At most ``processes`` tasks at once, each ``function(*args)`` in a forked child while this process goes
    on; each task's ``then()`` runs in this process once its child has exited, in the order the tasks were
    submitted. ``reserve`` gives the slot (0 to ``processes`` - 1) of the next task: arrays a caller keeps per
    slot are free to fill again, as the task that last used them has finished. With one process, or where
    forking is unsafe, each task runs here when submitted (slot 0). Leaving the ``with`` block waits for every
    task; leaving it by an exception kills the children first."""

    def __init__(self, processes=1):
        self.processes = max(1, int(processes))
        self._forking = CAN_FORK and self.processes > 1
        self._running = deque()
        self._reserved = None

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        if error_type is None:
            self.drain()
        else:
            while self._running:
                self._running.popleft()[0].kill()

    def reserve(self):
        """The slot of the next task, waiting for the oldest tasks until one is free."""
        if self._reserved is None:
            while len(self._running) >= self.processes:
                self._finish_oldest()
            busy = {slot for _, _, slot in self._running}
            self._reserved = min(set(range(self.processes)) - busy)
        return self._reserved

    def submit(self, function, *args, then=None):
        """Run ``function(*args)`` in a child in the reserved slot (reserving one first if need be), then
        ``then()`` here."""
        slot = self.reserve()
        self._reserved = None
        if self._forking:
            self._running.append((_Child(function, args), then, slot))
        else:
            function(*args)
            if then is not None:
                then()

    def drain(self):
        """Wait for every task."""
        while self._running:
            self._finish_oldest()

    def _finish_oldest(self):
        child, then, _ = self._running.popleft()
        child.wait()
        if then is not None:
            then()


class SlotArrays:
    """Arrays kept from task to task, one set per ``ForkPool`` slot, in shared memory: filling a kept array costs
    a tenth of filling a fresh one (a 4096x4096 frame's pixel map and weights, ~700 MiB, are ~0.2 s of page
    faults when new). ``get(slot, name, shape, dtype)`` is the same array for the same arguments."""

    def __init__(self):
        self._arrays = {}

    def get(self, slot, name, shape, dtype):
        key = (slot, name, tuple(shape), np.dtype(dtype))
        if key not in self._arrays:
            self._arrays[key] = shared_array(shape, dtype)
        return self._arrays[key]

    def of(self, slot):
        """A function ``(name, shape, dtype) -> array`` for one slot's arrays."""
        return lambda name, shape, dtype: self.get(slot, name, shape, dtype)


class _Child:
    """One forked child running ``function(*args)``; its error message comes back through a pipe."""

    def __init__(self, function, args):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _run_and_exit(function, args, write_end)
        os.close(write_end)
        self.pid, self._messages = pid, read_end

    def wait(self):
        """Wait for the child to exit (its end of the pipe closes with it); ChildProcessError with its error
        when it failed."""
        with os.fdopen(self._messages, "rb") as messages:
            message = messages.read().decode(errors="replace").strip()
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise ChildProcessError(message or f"a worker process ended by signal {-code}")

    def kill(self):
        """Stop the child at once and reap it."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self._messages)
        os.waitpid(self.pid, 0)


def _run_and_exit(function, args, messages):
    """The child's life: run the task, report an error through the pipe, leave without running anything else."""
    code = 1
    try:
        function(*args)
        code = 0
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent as a message
        os.write(messages, f"{type(error).__name__}: {error}".encode()[:MESSAGE_BYTES])
    finally:
        os._exit(code)
