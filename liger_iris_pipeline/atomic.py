"""Atomic file writes: a hidden temporary in the target's directory, renamed over the target only when
complete, and removed on any failure. A reader (or a rerun) never sees half a file under the final name."""

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path):
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` if the block succeeds.

    The temporary keeps ``path``'s extension, since writers such as stdatamodels choose the format by it.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with replacing(path) as temporary:
        temporary.write_text(text)


def copy_file(source, path):
    """Copy ``source`` to ``path`` atomically."""
    with replacing(path) as temporary:
        shutil.copyfile(source, temporary)
