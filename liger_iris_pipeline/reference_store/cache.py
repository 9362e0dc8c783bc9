"""The local CRDS cache as the fetch fills it: verified copies of a store's files, and a server_config that
records the sha1 and size of every file the cache holds.

A copy is written under a hidden temporary name beside its target, checked against the store's sha1 and size,
and only then renamed, so a fetch that fails leaves no file under a reference's name.
"""

import ast
import hashlib
import http.client
from datetime import UTC, datetime
from pathlib import Path

from .. import atomic
from .errors import FetchError
from .layout import OBSERVATORY, sha1
from .mappings import mapping_children
from .server_config import download_metadata
from .transport import BLOCK_SIZE


def install_file(store, area, name, metadata, directory, inspect=None):
    """Make ``directory/name`` a verified copy of the store's file; returns (copied, what ``inspect`` says).

    A copy is written under a hidden ``.part`` name, checked against ``metadata`` (and by ``inspect(path)``,
    which raises to refuse it), and only then renamed. A file already there is checked the same way and
    kept; one that does not match is an error, never overwritten: the cache is corrupt.
    """
    target = directory / name
    if target.exists():
        found = sha1(target)
        if found != metadata["sha1sum"]:
            raise FetchError(
                f"{target}: sha1 {found} in the cache does not match the store's {metadata['sha1sum']} "
                "(corrupt cache file: delete it to fetch it again)"
            )
        return False, inspect(target) if inspect else None
    where = store.where(area, name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(target) as temporary:
            digest, size = hashlib.sha1(), 0
            with store.open(area, name) as source, open(temporary, "wb") as sink:
                while block := source.read(BLOCK_SIZE):
                    size += len(block)
                    if size > metadata["size"]:
                        raise FetchError(
                            f"{where}: larger than the store's download_metadata says ({metadata['size']} bytes)"
                        )
                    digest.update(block)
                    sink.write(block)
            if size < metadata["size"]:
                raise FetchError(f"{where}: copy ended after {size} of the {metadata['size']} bytes the store declares")
            if digest.hexdigest() != metadata["sha1sum"]:
                raise FetchError(
                    f"{where}: sha1 {digest.hexdigest()} does not match the store's download_metadata "
                    f"{metadata['sha1sum']}"
                )
            inspected = inspect(temporary) if inspect else None
    except TimeoutError as error:
        raise FetchError(f"{where}: copy to {directory} failed ({store.silence()})") from error
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(
            f"{where}: copy to {directory} failed ({getattr(error, 'strerror', None) or error})"
        ) from error
    return True, inspected


def install_mapping_closure(store, config, context, mapping_directory):
    """Copy ``context`` and every imap and rmap under it into ``mapping_directory``.

    Returns ({mapping name: copied?}, names of all references the rmaps select).
    """
    mappings, references, pending = {}, set(), [context]
    while pending:
        name = pending.pop()
        if name in mappings:
            continue
        source = store.where("mappings", name)
        copied, children = install_file(
            store,
            "mappings",
            name,
            download_metadata(store, config, name),
            mapping_directory,
            inspect=lambda path, name=name, source=source: mapping_children(path, name, source),
        )
        mappings[name] = copied
        for child in children:
            (references.add if child.endswith(".fits") else pending.append)(child)
    return mappings, references


def write_text(path, text):
    """Write ``text`` to ``path`` through a hidden temporary beside it, so no reader sees half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, text)
    except OSError as error:
        raise FetchError(f"{path}: cannot write ({atomic.os_error_reason(error)})") from error


def write_cache_config(crds_path, context, download_metadata):
    """Write the cache's server_config: ``context`` in force, offline, and the download_metadata of the files
    fetched now added to those of earlier fetches."""
    path = Path(crds_path) / "config" / OBSERVATORY / "server_config"
    known = {}
    if path.exists():
        try:
            known = ast.literal_eval(path.read_text())["download_metadata"]
        except (OSError, ValueError, SyntaxError, KeyError, TypeError) as error:
            raise FetchError(
                f"{path}: not a server_config ({type(error).__name__}: {error}); delete it to fetch again"
            ) from error
    config = {
        "observatory": OBSERVATORY,
        "operational_context": context,
        "edit_context": context,
        "bad_files_list": [],
        "force_remote_mode": False,
        "last_synced": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "download_metadata": {**known, **download_metadata},
    }
    write_text(path, repr(config))
