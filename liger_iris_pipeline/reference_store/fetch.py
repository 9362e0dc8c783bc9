"""``crds_fetch``: copy what a set of inputs needs from a reference store into the local CRDS cache.

    crds_fetch --store <directory | http(s)://url> [--context ligeriri_NNNN.pmap] [--crds-path DIR]
               [--bestrefs-out table.json] [--timeout SECONDS] INPUT [INPUT ...]

INPUTs are raw frames or JSON associations (their science members). The fetch copies the context's
mappings (pmap, imaps, rmaps) into the cache at ``--crds-path`` (default ``$CRDS_PATH``), writes the
cache's ``server_config`` with that context in force, asks crds for each input's best references under
it, and copies those references. Compute jobs then read the cache offline (``CRDS_MODE=local``,
``CRDS_READONLY_CACHE=1``). ``--bestrefs-out`` writes ``{"context": ..., "bestrefs": {input: {reftype:
name or "N/A"}}}``. Exit status 0, or 1 with ``crds_fetch: error: <file or store>: <problem>``.

Integrity: every file is checked against the store's ``download_metadata`` sha1 (a mapping also against
its own ``sha1sum``) under a hidden ``.part`` name in its destination directory, and only then renamed;
a file already in the cache is checked too and never silently kept or replaced. Every file name read from
a mapping, the store's config or the command line must be a bare ligeriri name. Only the store is ever
contacted: crds runs serverless, on the cache alone. An http(s) store that does not answer within
``--timeout`` seconds (each request and each block), or sends more bytes than ``download_metadata``
declares, fails the fetch; the partial copy is removed and a later fetch starts afresh.
"""

import argparse
import ast
import hashlib
import http.client
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import liger_iris_crds_hook

liger_iris_crds_hook.install()  # crds must know the ligeriri observatory before it is imported

import crds  # noqa: E402
from crds.client import api as crds_api  # noqa: E402
from crds.core import config as crds_config  # noqa: E402
from crds.core import log as crds_log  # noqa: E402
from crds.core import utils as crds_utils  # noqa: E402

from .. import atomic, datamodels  # noqa: E402
from ..associations import AssociationError, is_association, load_association  # noqa: E402
from .errors import FetchError  # noqa: E402
from .layout import OBSERVATORY, checked_name, sha1  # noqa: E402
from .mappings import mapping_children  # noqa: E402

HTTP_TIMEOUT = 30  # seconds, default wait for each answer (and each block) of an http(s) store
BLOCK_SIZE = 1 << 20
MAX_CONFIG_BYTES = 64 << 20  # a server_config larger than this is refused, not read into memory
#: crds's own default server address: its "serverless" spelling makes crds skip every JSON-RPC call.
SERVERLESS_URL = "https://crds-serverless-mode.stsci.edu"

_SHA1 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did: the context, each input's best references, and the files copied or found verified."""

    context: str
    bestrefs: dict  # {input path: {reftype: reference name or "N/A"}}
    copied: tuple  # file names copied into the cache
    present: tuple  # file names already in the cache, verified


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as an error: the fetch talks to the store's address and nothing else."""

    def redirect_request(self, request, stream, code, message, headers, new_url):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class StoreReader:
    """Read access to a reference store: a directory or an http(s) URL with the layout of a CRDS cache."""

    def __init__(self, location, timeout=HTTP_TIMEOUT):
        self.location = str(location).rstrip("/") or "/"
        self.is_http = self.location.startswith(("http://", "https://"))
        self.timeout = timeout

    def where(self, area, name):
        """Path or URL of the checked file name ``name`` in ``area`` (config, mappings or references)."""
        return f"{self.location}/{area}/{OBSERVATORY}/{name}"

    @contextmanager
    def open(self, area, name):
        """A binary stream of a store file; FetchError when the store lacks it or cannot be reached."""
        where = self.where(area, name)
        try:
            stream = _OPENER.open(where, timeout=self.timeout) if self.is_http else open(where, "rb")  # noqa: SIM115
        except urllib.error.HTTPError as error:
            problem = "not in the store" if error.code == 404 else f"HTTP error {error.code} {error.reason}"
            raise FetchError(f"{where}: {problem}") from error
        except urllib.error.URLError as error:
            raise FetchError(f"{self.location}: cannot reach the store ({error.reason})") from error
        except TimeoutError as error:
            raise FetchError(f"{where}: {self.silence()}") from error
        except FileNotFoundError as error:
            raise FetchError(f"{where}: not in the store") from error
        except OSError as error:
            raise FetchError(f"{where}: cannot read ({error.strerror or error})") from error
        with stream:
            yield stream

    def silence(self):
        """The problem when the store stops answering: how long we waited."""
        return f"the store did not answer within {self.timeout} s"


def read_store_config(store):
    """The store's server_config (a Python literal, read with ``ast.literal_eval``), checked for shape."""
    if not store.is_http and not Path(store.location).is_dir():
        raise FetchError(f"{store.location}: no such store directory")
    where = store.where("config", "server_config")
    with store.open("config", "server_config") as stream:
        try:
            text = stream.read(MAX_CONFIG_BYTES + 1)
        except TimeoutError as error:
            raise FetchError(f"{where}: {store.silence()}") from error
        except (OSError, http.client.HTTPException) as error:
            raise FetchError(f"{where}: cannot read ({error})") from error
    if len(text) > MAX_CONFIG_BYTES:
        raise FetchError(f"{where}: larger than {MAX_CONFIG_BYTES} bytes, refused")
    try:
        config = ast.literal_eval(text.decode("utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, RecursionError) as error:
        raise FetchError(f"{where}: not a server_config ({type(error).__name__}: {error})") from error
    if not isinstance(config, dict) or config.get("observatory") != OBSERVATORY:
        raise FetchError(f"{where}: not a {OBSERVATORY} server_config")
    if not isinstance(config.get("download_metadata"), dict):
        raise FetchError(f"{where}: no download_metadata")
    return config


def _download_metadata(store, config, name):
    """The store's {size, sha1sum} of ``name``: what a copy of it must match."""
    entry = config["download_metadata"].get(name)
    if entry is None:
        raise FetchError(
            f"{store.where('references' if name.endswith('.fits') else 'mappings', name)}: not in the store"
        )
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
            _download_metadata(store, config, name),
            mapping_directory,
            inspect=lambda path, name=name, source=source: mapping_children(path, name, source),
        )
        mappings[name] = copied
        for child in children:
            (references.add if child.endswith(".fits") else pending.append)(child)
    return mappings, references


def _write_atomically(path, text):
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
    _write_atomically(path, repr(config))


class _ErrorMessages(logging.Handler):
    """Collects what crds logs at ERROR level: crds reports many problems only there."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


def _replace_crds_environment(environment, server):
    """Make ``environment`` the only CRDS_* variables, point crds at ``server``, and clear crds's caches."""
    for key in [key for key in os.environ if key.startswith("CRDS_")]:
        del os.environ[key]
    os.environ.update(environment)
    crds_api.set_crds_server(server)
    crds_utils.clear_function_caches()


@contextmanager
def local_crds(crds_path):
    """crds set to use the cache at ``crds_path`` alone: local mode, read-only, serverless; restored after.

    crds reads its configuration from ``os.environ`` (where it also keeps its defaults) and caches results
    per process (``utils.cached``). So on the way in every CRDS_* variable is replaced by crds's defaults
    plus ours, crds's server address set to its serverless one, and its caches cleared; on the way out the
    previous variables and address come back and the caches are cleared again. This changes the process
    environment while it runs: not for concurrent use by threads. (A ``~/.crds.ini`` still applies.)
    """
    saved_environment = {key: value for key, value in os.environ.items() if key.startswith("CRDS_")}
    saved_server = crds_api.get_crds_server()
    _replace_crds_environment({}, SERVERLESS_URL)
    for item in vars(crds_config).values():  # crds writes each default into os.environ as it defines the setting
        if isinstance(item, crds_config.ConfigItem):
            item.get()
    os.environ.update(
        CRDS_PATH=str(crds_path), CRDS_MODE="local", CRDS_READONLY_CACHE="1", CRDS_OBSERVATORY=OBSERVATORY
    )
    try:
        yield
    finally:
        _replace_crds_environment(saved_environment, saved_server)


def best_references(parameters, context, source):
    """{reftype: reference name or "N/A"} that crds selects for ``parameters`` under ``context``.

    Call inside ``local_crds``. "NOT FOUND n/a" (the type does not apply) becomes "N/A"; any other
    NOT FOUND, an exception, or an error crds only logged is a FetchError naming ``source``.
    """
    logged = _ErrorMessages()
    crds_logger = logging.getLogger("CRDS")
    errors_before = crds_log.errors()
    crds_logger.addHandler(logged)
    try:
        recommendations = crds.getrecommendations(parameters, reftypes=None, context=context, observatory=OBSERVATORY)
    except (Exception, SystemExit) as error:  # crds raises many types, and exits on some failures
        raise FetchError(
            f"{source}: crds cannot select references under {context} ({error or type(error).__name__})"
        ) from error
    finally:
        crds_logger.removeHandler(logged)
    if crds_log.errors() > errors_before:
        reason = logged.messages[0] if logged.messages else "see its log above"
        raise FetchError(f"{source}: crds reported an error under {context}: {reason}")
    bestrefs = {}
    for reftype, value in sorted(recommendations.items()):
        if value.upper().startswith("NOT FOUND"):
            reason = value[len("NOT FOUND") :].strip()
            if reason.lower() != "n/a":
                raise FetchError(f"{source}: no {reftype} reference under {context}: {reason}")
            value = "N/A"
        bestrefs[reftype] = value
    return bestrefs


def expand_inputs(inputs):
    """The frames of ``inputs``: each frame as given, and each science member of a JSON association."""
    frames = []
    for item in inputs:
        try:
            members = (
                [str(path) for product in load_association(item) for path in product.science]
                if is_association(item)
                else [str(item)]
            )
        except AssociationError as error:
            raise FetchError(str(error)) from error
        frames += [member for member in members if member not in frames]
    return frames


def crds_parameters(path):
    """The parameters crds selects references on, from the frame's data model."""
    try:
        with datamodels.open(path) as model:
            return model.get_crds_parameters()
    except datamodels.DataModelError as error:
        raise FetchError(str(error)) from error


def store_context(store):
    """The operational context of the store (a directory or an http(s) URL)."""
    reader = StoreReader(store)
    return resolve_context(reader, read_store_config(reader))


def select_references(store, inputs, crds_path, context=None, timeout=HTTP_TIMEOUT):
    """Copy the rules of ``context`` (default: the store's operational context) into the CRDS cache at
    ``crds_path`` and ask crds for the best references of ``inputs`` (frames or associations) under them.

    The references themselves are not copied (``fetch_references`` or ``fetch_reference`` do that).
    Returns a FetchResult whose ``copied``/``present`` list the mappings; raises FetchError naming the file
    or store and the problem. crds runs inside ``local_crds`` (the CRDS_* environment is swapped meanwhile).
    ``timeout``: seconds to wait for each answer of an http(s) store.
    """
    reader = StoreReader(store, timeout)
    return _select(reader, read_store_config(reader), inputs, crds_path, context)


def _select(reader, config, inputs, crds_path, context):
    context = resolve_context(reader, config, context)
    frames = expand_inputs(inputs)
    parameters = {frame: crds_parameters(frame) for frame in frames}  # a bad input stops the fetch before any copy

    cache = Path(crds_path)
    mappings, context_references = install_mapping_closure(reader, config, context, cache / "mappings" / OBSERVATORY)
    known_files = sorted(mappings) + sorted(context_references)
    write_cache_config(cache, context, {name: _download_metadata(reader, config, name) for name in known_files})

    with local_crds(cache):
        bestrefs = {frame: best_references(parameters[frame], context, frame) for frame in frames}
    return FetchResult(
        context=context,
        bestrefs=bestrefs,
        copied=tuple(name for name, copied in mappings.items() if copied),
        present=tuple(name for name, copied in mappings.items() if not copied),
    )


def fetch_reference(store, name, crds_path, config=None, timeout=HTTP_TIMEOUT):
    """Copy the reference ``name`` from the store into the cache at ``crds_path``, verified; True if copied."""
    reader = StoreReader(store, timeout)
    config = config or read_store_config(reader)  # callers copying many references read it once
    name = checked_name(name, ".fits", "reference")
    metadata = _download_metadata(reader, config, name)
    copied, _ = install_file(reader, "references", name, metadata, Path(crds_path) / "references" / OBSERVATORY)
    return copied


def fetch_references(store, inputs, crds_path, context=None, timeout=HTTP_TIMEOUT):
    """``select_references``, then copy every selected reference into the cache: all that ``inputs`` need."""
    reader = StoreReader(store, timeout)
    config = read_store_config(reader)
    selection = _select(reader, config, inputs, crds_path, context)
    names = sorted({name for selected in selection.bestrefs.values() for name in selected.values() if name != "N/A"})
    copied = {name: fetch_reference(store, name, crds_path, config, timeout) for name in names}
    return FetchResult(
        context=selection.context,
        bestrefs=selection.bestrefs,
        copied=selection.copied + tuple(name for name in names if copied[name]),
        present=selection.present + tuple(name for name in names if not copied[name]),
    )


def write_bestrefs_table(path, result):
    """Write the JSON table ``{"context": ..., "bestrefs": {input: {reftype: name or "N/A"}}}`` atomically."""
    _write_atomically(path, json.dumps({"context": result.context, "bestrefs": result.bestrefs}, indent=2) + "\n")


def summary(result):
    """A few lines for the terminal: context, each input's references, and what was copied."""
    lines = [f"context {result.context}"]
    for frame, selected in result.bestrefs.items():
        chosen = [f"{reftype} {name}" for reftype, name in selected.items() if name != "N/A"]
        lines.append(f"  {frame}: {', '.join(chosen) or 'no references apply'}")
    lines.append(f"{len(result.copied)} copied, {len(result.present)} already present")
    return "\n".join(lines)


def main(argv=None):
    """Command line: returns the exit status (0, or 1 after a one-line error on stderr)."""
    parser = argparse.ArgumentParser(
        prog="crds_fetch", description="Copy what the inputs need from a reference store into the local CRDS cache."
    )
    parser.add_argument("--store", required=True, help="reference store: a directory or an http(s) URL")
    parser.add_argument("--context", help="pipeline mapping to fetch (default: the store's operational context)")
    parser.add_argument("--crds-path", help="CRDS cache to fill (default: $CRDS_PATH)")
    parser.add_argument("--bestrefs-out", help="write the best references of each input to this JSON file")
    parser.add_argument(
        "--timeout",
        type=float,
        default=HTTP_TIMEOUT,
        help=f"seconds to wait for each answer of an http(s) store (default {HTTP_TIMEOUT})",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="raw frame (FITS) or JSON association")
    args = parser.parse_args(argv)
    crds_path = args.crds_path or os.environ.get("CRDS_PATH")
    try:
        if not crds_path:
            raise FetchError("CRDS cache: give --crds-path or set CRDS_PATH")
        result = fetch_references(args.store, args.inputs, crds_path, args.context, args.timeout)
        if args.bestrefs_out:
            write_bestrefs_table(args.bestrefs_out, result)
    except FetchError as error:
        print(f"crds_fetch: error: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return 1
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
