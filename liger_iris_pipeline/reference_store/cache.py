"""The local CRDS cache as the fetch fills it: verified copies of a store's files, and a server_config that
records the sha1 and size of every file the cache holds.

A cache holds one file of each name. Where projects or nights share a cache, a name that another store filled
with different content is refused, naming the file and both sha1s: never silently used, never replaced. A
copy is written under a hidden temporary name beside its target, checked against the store's sha1 and size,
and only then renamed, so a fetch that fails or is killed leaves no file under a reference's name.
"""

import ast
import hashlib
from contextlib import closing
from datetime import UTC, datetime

from .. import atomic
from .errors import FetchError
from .layout import FLAT, OBSERVATORY, is_lfs_pointer, is_reference, sha1
from .mappings import mapping_children
from .server_config import download_metadata

#: What to do about a name the cache holds with other content: the advice of every such refusal.
_ONE_FILE_PER_NAME = "a CRDS cache holds one file of each name: fetch into another CRDS_PATH"


def cache_records(cache):
    """{name: {size, sha1sum}} of every file the cache at the Layout ``cache`` has recorded ({} for a new cache)."""
    if not cache.config_path.exists():
        return {}
    try:
        records = ast.literal_eval(cache.config_path.read_text())["download_metadata"]
        if not isinstance(records, dict):
            raise TypeError("download_metadata is not a dict")
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, RecursionError) as error:
        raise FetchError(
            f"{cache.config_path}: not a server_config ({type(error).__name__}: {error}); delete it to fetch again"
        ) from error
    return records


def check_record(cache, records, name, metadata, store):
    """FetchError if the cache recorded ``name`` with another sha1 than ``metadata`` (from ``store``) gives."""
    recorded = records.get(name)
    if isinstance(recorded, dict) and recorded.get("sha1sum") != metadata["sha1sum"]:
        raise FetchError(
            f"{cache.config_path}: the cache holds {name} with sha1 {recorded.get('sha1sum')}, the store "
            f"{store.location} has it with sha1 {metadata['sha1sum']}: {_ONE_FILE_PER_NAME}"
        )


def check_cached(path, metadata, store):
    """FetchError if the cache's file at ``path`` is not the store's (``metadata`` from ``store``)."""
    found = sha1(path)
    if found != metadata["sha1sum"]:
        raise FetchError(
            f"{path}: sha1 {found} in the cache, the store {store.location} has sha1 {metadata['sha1sum']}: "
            f"another store's file of that name or a corrupt copy ({_ONE_FILE_PER_NAME}, or delete a corrupt copy)"
        )


def install_file(store, area, name, metadata, directory, inspect=None):
    """Make ``directory/name`` a verified copy of the store's file; returns (copied, what ``inspect`` says).

    A copy is written under a hidden temporary name, checked against ``metadata`` (and by ``inspect(path)``,
    which raises to refuse it), and only then renamed. A file already there is checked the same way and kept;
    one that does not match is an error, never overwritten.
    """
    target = directory / name
    if target.exists():
        check_cached(target, metadata, store)
        return False, inspect(target) if inspect else None
    where = store.where(area, name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(target) as temporary:
            digest, size = hashlib.sha1(), 0
            with closing(store.blocks(area, name)) as blocks, open(temporary, "wb") as sink:
                for block in blocks:
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
            if target.exists():  # a concurrent fetch put it there meanwhile: keep it only if it is the store's
                check_cached(target, metadata, store)
    except OSError as error:
        raise FetchError(f"{where}: copy to {directory} failed ({atomic.os_error_reason(error)})") from error
    return True, inspected


def install_mapping_closure(store, config, context, cache, records, instruments, accept_stale=False):
    """Copy ``context``, every imap it names, and the rmaps of the imaps of ``instruments`` (lower case) into the
    Layout ``cache``, each checked against the cache's ``records`` too: what crds reads to select for frames of
    those instruments. (A context may name rmaps its store lacks: the community's Liger imap does.) Returns
    ({mapping name: copied?}, names of the references those rmaps select, the reports of stale embedded
    checksums, which are refused unless ``accept_stale``)."""
    mappings, references, stale, pending = {}, set(), [], [(context, True)]
    while pending:
        name, follow = pending.pop()
        if name in mappings:
            continue
        source = store.where("mappings", name)
        metadata = download_metadata(store, config, name)
        check_record(cache, records, name, metadata, store)
        copied, content = install_file(
            store,
            "mappings",
            name,
            metadata,
            cache.mappings,
            inspect=lambda path, name=name, source=source: mapping_children(path, name, source, accept_stale),
        )
        mappings[name] = copied
        stale += [content.stale] if content.stale else []
        for key, child in content.children if follow else ():
            if is_reference(child):
                references.add(child)
            else:
                pending.append((child, not child.endswith(".imap") or key in instruments))
    return mappings, references, stale


def refuse_lfs_pointer(path, where):
    """FetchError naming ``where`` if the file at ``path`` is a Git LFS pointer, not the reference it stands for."""
    with open(path, "rb") as stream:
        if is_lfs_pointer(stream.read(64)):
            raise FetchError(
                f"{where}: a Git LFS pointer, not the reference (git lfs pull in the store gets the file)"
            )


def claim_flat_cache(cache):
    """Say in the cache's ``ref_cache_subdir_mode`` that it is flat, as the fetch fills it (so crds never guesses);
    FetchError if the cache says it is laid out otherwise."""
    if not cache.subdir_mode_path.exists():
        write_text(cache.subdir_mode_path, FLAT)
    elif cache.subdir_mode() != FLAT:
        raise FetchError(
            f"{cache.subdir_mode_path}: the cache's references are laid out by {cache.subdir_mode()}; the fetch "
            "fills flat caches (references/ligeriri/<name>): fetch into another CRDS_PATH"
        )


def write_text(path, text):
    """Write ``text`` to ``path`` through a hidden temporary beside it, so no reader sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, text)
    except OSError as error:
        raise FetchError(f"{path}: cannot write ({atomic.os_error_reason(error)})") from error


def write_cache_config(cache, context, records):
    """Write the cache's server_config: ``context`` in force, offline, and ``records`` as its download_metadata."""
    config = {
        "observatory": OBSERVATORY,
        "operational_context": context,
        "edit_context": context,
        "bad_files_list": [],
        "force_remote_mode": False,
        "last_synced": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "download_metadata": records,
    }
    write_text(cache.config_path, repr(config))
