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
its own ``sha1sum``) under a hidden temporary name in its destination directory, and only then renamed; a
file already in the cache, or recorded in its server_config, is checked too and never silently kept or
replaced (a cache shared with another store cannot hold two files of one name). Every file name read from
a mapping, the store's config or the command line must pass the store's name rule. Only the store is ever
contacted: crds runs serverless, on the cache alone. ``--timeout`` is the deadline of each file: one that
has not arrived whole within it (however slowly the store drips it), or a store silent for 30 s, or one
that sends more bytes than ``download_metadata`` declares, fails the fetch; the partial copy is removed,
as is one a killed fetch left, and a later fetch starts afresh.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .bestrefs import best_references, crds_parameters, expand_inputs, local_crds
from .cache import (
    cache_records,
    check_cached,
    check_record,
    install_file,
    install_mapping_closure,
    write_cache_config,
    write_text,
)
from .errors import FetchError
from .layout import REFERENCE, Layout, checked_name
from .server_config import download_metadata, read_store_config, resolve_context
from .transport import DEADLINE, StoreReader


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did: the context, each input's best references, and the files copied or found verified."""

    context: str
    bestrefs: dict  # {input path: {reftype: reference name or "N/A"}}
    copied: tuple  # file names copied into the cache
    present: tuple  # file names already in the cache, verified

    def references(self):
        """The distinct names of the references selected, sorted."""
        return sorted({name for selected in self.bestrefs.values() for name in selected.values() if name != "N/A"})


def select_references(store, inputs, crds_path, context=None, timeout=DEADLINE):
    """Copy the rules of ``context`` (default: the store's operational context) into the CRDS cache at
    ``crds_path`` and ask crds for the best references of ``inputs`` (frames or associations) under them.

    The references themselves are not copied (``fetch_references`` or ``fetch_reference`` do that), but
    those already in the cache are checked against the store's sha1, so a cache shared with another store
    cannot substitute its file. Returns a FetchResult whose ``copied``/``present`` list the mappings; raises
    FetchError naming the file or store and the problem. crds runs inside ``local_crds`` (the CRDS_*
    environment is swapped meanwhile). ``timeout``: the deadline, in seconds, of each file from the store.
    """
    reader = StoreReader(store, timeout)
    config = read_store_config(reader)
    selection = _select(reader, config, inputs, Layout(crds_path), context)
    references = Layout(crds_path).references
    for name in selection.references():
        if (references / name).exists():
            check_cached(references / name, download_metadata(reader, config, name), reader)
    return selection


def _select(reader, config, inputs, cache, context):
    """Install the mappings of the context and record the sha1 of every file under it in the cache (one
    writer at a time), then ask crds for each frame's references."""
    context = resolve_context(reader, config, context)
    frames = expand_inputs(inputs)
    parameters = {frame: crds_parameters(frame) for frame in frames}  # a bad input stops the fetch before any copy

    with cache.lock():
        records = cache_records(cache)
        mappings, context_references = install_mapping_closure(reader, config, context, cache, records)
        metadata = {name: download_metadata(reader, config, name) for name in sorted(mappings) + sorted(context_references)}
        for name in sorted(context_references):
            check_record(cache, records, name, metadata[name], reader)
        write_cache_config(cache, context, {**records, **metadata})

    with local_crds(cache.root):
        bestrefs = {frame: best_references(parameters[frame], context, frame) for frame in frames}
    return FetchResult(
        context=context,
        bestrefs=bestrefs,
        copied=tuple(name for name, copied in mappings.items() if copied),
        present=tuple(name for name, copied in mappings.items() if not copied),
    )


def fetch_reference(store, name, crds_path, config=None, timeout=DEADLINE):
    """Copy the reference ``name`` from the store into the cache at ``crds_path``, verified; True if copied.

    A copy already there, or one the cache recorded, must be the store's file.
    """
    reader = StoreReader(store, timeout)
    config = config or read_store_config(reader)  # callers copying many references read it once
    name = checked_name(name, REFERENCE, "reference")
    metadata = download_metadata(reader, config, name)
    cache = Layout(crds_path)
    check_record(cache, cache_records(cache), name, metadata, reader)
    copied, _ = install_file(reader, "references", name, metadata, cache.references)
    return copied


def fetch_references(store, inputs, crds_path, context=None, timeout=DEADLINE):
    """``select_references``, then copy every selected reference into the cache: all that ``inputs`` need."""
    reader = StoreReader(store, timeout)
    config = read_store_config(reader)
    selection = _select(reader, config, inputs, Layout(crds_path), context)
    names = selection.references()
    copied = {name: fetch_reference(store, name, crds_path, config, timeout) for name in names}
    return FetchResult(
        context=selection.context,
        bestrefs=selection.bestrefs,
        copied=selection.copied + tuple(name for name in names if copied[name]),
        present=selection.present + tuple(name for name in names if not copied[name]),
    )


def write_bestrefs_table(path, result):
    """Write the JSON table ``{"context": ..., "bestrefs": {input: {reftype: name or "N/A"}}}`` atomically."""
    write_text(Path(path), json.dumps({"context": result.context, "bestrefs": result.bestrefs}, indent=2) + "\n")


def summary(result):
    """A few lines for the terminal: context, each input's references, and what was copied."""
    lines = [f"context {result.context}"]
    for frame, selected in result.bestrefs.items():
        chosen = [f"{reftype} {name}" for reftype, name in selected.items() if name != "N/A"]
        lines.append(f"  {frame}: {', '.join(chosen) or 'no references apply'}")
    lines.append(f"{len(result.copied)} copied, {len(result.present)} already present")
    return "\n".join(lines)


def _seconds(text):
    """A positive, finite number of seconds, for argparse."""
    seconds = float(text)
    if not 0 < seconds < 1e9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


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
        type=_seconds,
        default=DEADLINE,
        help=f"seconds each file from the store has to arrive whole (default {DEADLINE})",
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
