"""A store's server_config, as the fetch and the workflow read it: the context in force and the sha1 and size
of every file (``download_metadata``), which every copy of a file must match.

A server_config is a Python literal, read with ``ast.literal_eval`` and checked for shape. This module imports
no crds: the workflow's planning calls ``store_context``.
"""

import ast
import re
from contextlib import closing
from pathlib import Path

from .errors import FetchError
from .layout import OBSERVATORY, checked_name, is_reference
from .transport import StoreReader

MAX_CONFIG_BYTES = 64 << 20  # a server_config larger than this is refused, not read into memory
_SHA1 = re.compile(r"[0-9a-f]{40}")


def read_store_config(store):
    """The server_config of the store ``store`` (a StoreReader) reads: a Python literal, read with
    ``ast.literal_eval`` and checked for shape."""
    if not store.is_http and not Path(store.location).is_dir():
        raise FetchError(f"{store.location}: no such store directory")
    where = store.where("config", "server_config")
    text, size = [], 0
    with closing(store.blocks("config", "server_config")) as blocks:
        for block in blocks:
            size += len(block)
            if size > MAX_CONFIG_BYTES:
                raise FetchError(f"{where}: larger than {MAX_CONFIG_BYTES} bytes, refused")
            text.append(block)
    try:
        config = ast.literal_eval(b"".join(text).decode("utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, RecursionError, MemoryError) as error:
        raise FetchError(f"{where}: not a server_config ({type(error).__name__}: {error})") from error
    if not isinstance(config, dict) or config.get("observatory") != OBSERVATORY:
        raise FetchError(f"{where}: not a {OBSERVATORY} server_config")
    if not isinstance(config.get("download_metadata"), dict):
        raise FetchError(f"{where}: no download_metadata")
    return config


def download_metadata(store, config, name):
    """The store's {size, sha1sum} of ``name``: what a copy of it must match."""
    entry = config["download_metadata"].get(name)
    if entry is None:
        area = "references" if is_reference(name) else "mappings"
        raise FetchError(f"{store.where(area, name)}: not in the store")
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("size"), int)
        and isinstance(entry.get("sha1sum"), str)
        and _SHA1.fullmatch(entry["sha1sum"])
    ):
        raise FetchError(f"{store.where('config', 'server_config')}: bad download_metadata entry for {name}")
    return {"size": entry["size"], "sha1sum": entry["sha1sum"]}


def resolve_context(store, config, context=None):
    """The context to fetch: ``context`` or else the store's operational context; it must be in the store."""
    if context is None:
        where = store.where("config", "server_config")
        if not config.get("operational_context"):
            raise FetchError(f"{where}: no operational_context")
        context = checked_name(config["operational_context"], ".pmap", where)
    else:
        checked_name(context, ".pmap", "context")
    if context not in config["download_metadata"]:
        raise FetchError(f"{store.location}: context {context} is not in the store")
    return context


def store_context(store):
    """The operational context of the store (a directory or an http(s) URL)."""
    reader = StoreReader(store)
    return resolve_context(reader, read_store_config(reader))
