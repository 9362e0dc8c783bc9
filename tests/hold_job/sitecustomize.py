"""A workflow job held while a test acts on it (tests/held_job.py), on PYTHONPATH only in those tests.

With LIGER_IRIS_HOLD_JOB naming a Unix socket the test listens on, the first workflow step process to start
(Snakemake's copy of scripts/run_step.py) claims the hold (an exclusive marker beside the socket), connects,
sends its process id and waits until the test closes the connection (then runs as usual) or kills it. The
test thus knows that a job is running, and which, without watching files or sleeping. Later step processes
run as usual.
"""

import os
import socket
import sys

_address = os.environ.get("LIGER_IRIS_HOLD_JOB")
if _address and sys.argv and sys.argv[0].endswith("run_step.py"):
    try:
        os.close(os.open(f"{_address}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        pass
    else:
        with socket.socket(socket.AF_UNIX) as _connection:
            _connection.connect(_address)
            _connection.sendall(f"{os.getpid()}\n".encode())
            _connection.recv(1)  # until the test lets go
