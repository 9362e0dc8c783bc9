"""Locks a killed snakemake left behind, told apart safely from those of a running one.

Snakemake locks the files of a run in ``.snakemake/locks/`` and removes the locks when it ends; killed
(``kill -9``, a power cut) it leaves them, and the next run stops with "Directory cannot be locked" until
``snakemake --unlock``. Snakemake does not record who holds a lock, so the workflow does: when a run
starts (``onstart``, once it holds its locks) it writes an owner file beside them naming this host, its
process and the process's start time. When the workflow is planned, the locks of an owner on this host
whose process is gone (or whose process id now belongs to another process) are removed. Locks of a
running snakemake, of another host (a shared file system) or without an owner file are left alone.
"""

import json
import os
import socket
from pathlib import Path

OWNER_PREFIX = "liger_iris_owner."


def record_lock_owner(lock_directory, lock_files):
    """Write the owner file of this process's ``lock_files`` (paths in ``lock_directory``)."""
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
        "locks": sorted(Path(path).name for path in lock_files),
    }
    path = Path(lock_directory) / f"{OWNER_PREFIX}{os.getpid()}.json"
    path.write_text(json.dumps(owner) + "\n")
    return path


def remove_stale_locks(lock_directory):
    """Remove the locks (and owner files) of the owners on this host whose process has ended; return a line
    for each owner whose locks were removed."""
    removed = []
    for owner_file in sorted(Path(lock_directory).glob(f"{OWNER_PREFIX}*.json")):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if owner.get("host") != socket.gethostname() or _is_running(owner.get("pid"), owner.get("started")):
            continue
        for name in owner.get("locks", []):
            (Path(lock_directory) / Path(name).name).unlink(missing_ok=True)
        owner_file.unlink(missing_ok=True)
        removed.append(f"removed the locks of snakemake process {owner['pid']}, which has ended without removing them")
    return removed


def _is_running(pid, started):
    """Whether process ``pid`` runs and, where its start time is known, is the one that started then."""
    if not isinstance(pid, int):
        return True  # an owner file we cannot read: assume the lock is live
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _process_start(pid) == started


def _process_start(pid):
    """The process's start time (clock ticks after boot, and the boot's id) where /proc tells it, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces, in parentheses); starttime is field 22.
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"
