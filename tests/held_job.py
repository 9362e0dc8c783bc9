"""Start snakemake with its first step job held (tests/hold_job/sitecustomize.py): the test then acts on a run that
provably has a job running, and fails with a message if no job ever starts."""

import os
import signal
import socket
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from commands import clean_environment, command

HOOK = Path(__file__).resolve().parent / "hold_job"
#: Longest wait for the first job to start (a failure bound, not a synchronisation).
START_TIMEOUT = 600


class HeldRun:
    """A snakemake process (its own process group) whose first step job, ``job_pid``, waits for ``release``."""

    def __init__(self, process, connection, job_pid, output):
        self.process, self.connection, self.job_pid, self.output = process, connection, job_pid, output

    def release(self):
        """Let the held job run on."""
        self.connection.close()

    def wait(self, timeout=START_TIMEOUT):
        """snakemake's exit status once it ends, and what it printed."""
        status = self.process.wait(timeout=timeout)
        return status, Path(self.output).read_text()


def _interruptible():
    """In the child before exec: SIGINT and SIGQUIT back to their defaults, as in a terminal. A shell starting a
    background job without job control (``make test &``, a CI runner's script) sets them to ignored, every
    process below inherits that, and the Ctrl-C the tests send would then stop nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@contextmanager
def held_run(workdir, *args):
    """Run ``snakemake --cores 1 *args`` in ``workdir`` until its first step job is running and held; yield the
    HeldRun. Afterwards every process of the run is killed (a test may leave one behind on failure)."""
    directory = tempfile.mkdtemp(prefix="hold")  # Unix socket paths are short
    address = os.path.join(directory, "socket")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(1)
    listener.settimeout(1)
    environment = clean_environment(PYTHONPATH=HOOK, LIGER_IRIS_HOLD_JOB=address)
    output = os.path.join(directory, "snakemake.out")
    with open(output, "w") as stream:
        process = subprocess.Popen(
            [command("snakemake"), "--cores", "1", *args],
            cwd=workdir,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
            preexec_fn=_interruptible,
        )
    connection, job = None, None
    try:
        for _ in range(START_TIMEOUT):
            try:
                connection, _ = listener.accept()
                break
            except TimeoutError:
                if process.poll() is not None:
                    printed = Path(output).read_text()[-3000:]
                    raise AssertionError(f"snakemake ended before any step job started:\n{printed}")
        else:
            raise AssertionError(f"no step job started within {START_TIMEOUT} s")
        connection.settimeout(START_TIMEOUT)
        job_pid = int(connection.makefile().readline())
        job = psutil.Process(job_pid)
        yield HeldRun(process, connection, job_pid, output)
    finally:
        if connection is not None:
            connection.close()
        listener.close()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if job is not None:
            with suppress(psutil.NoSuchProcess):
                job.kill()  # psutil checks it is still the job's process, not a later one with its pid
        process.wait()
