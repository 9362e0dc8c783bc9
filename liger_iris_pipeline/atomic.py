"""Atomic file writes: a hidden temporary in the target's directory, renamed over the target only when
complete, and removed on any failure. A reader (or a rerun) never sees half a file under the final name."""

import glob
import os
import re
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path

#: Temporaries carry the writer's host and process id, so a later writer can tell a dead writer's leftover.
_HOST = socket.gethostname().split(".")[0]


@contextmanager
def replacing(path):
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` if the block succeeds.

    The temporary keeps ``path``'s extension, since writers such as stdatamodels choose the format by it.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{_HOST}-{os.getpid()}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    remove_stale_temporaries(path)


def remove_stale_temporaries(path):
    """Remove the temporaries of ``path`` that writers on this host left behind when they were killed (their
    process is gone): a killed job's rerun does not keep its half-written file. Temporaries of a running
    writer, or of another host, are left alone."""
    path = Path(path)
    pattern = re.compile(
        rf"\.{re.escape(path.stem)}\.{re.escape(_HOST)}-(\d+)\.[0-9a-f]{{8}}\.part{re.escape(path.suffix)}"
    )
    for candidate in path.parent.glob(f".{glob.escape(path.stem)}.*.part{glob.escape(path.suffix)}"):
        match = pattern.fullmatch(candidate.name)
        if match and not _is_running(int(match.group(1))):
            candidate.unlink(missing_ok=True)


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def os_error_reason(error):
    """The system's words for a failed write ("No space left on device"), also when a library re-raised the
    OSError as text (astropy turns it into "[Errno 27] File too large", the original as its context)."""
    cause = error
    while cause is not None:
        if getattr(cause, "strerror", None):
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(error)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with replacing(path) as temporary:
        temporary.write_text(text)


def copy_file(source, path):
    """Copy ``source`` to ``path`` atomically."""
    with replacing(path) as temporary:
        shutil.copyfile(source, temporary)
