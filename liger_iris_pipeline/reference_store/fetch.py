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

Stores laid out as the community's cache (oirlab/liger-iris-crds-cache: references in
``references/ligeriri/<instrument>/``, ``ref_cache_subdir_mode`` ``instrument``) are read as well as ours; the
cache is always flat, and says so. The fetch copies the context's pmap and imaps, and the rmaps of the inputs'
instruments (the community's context names Liger rmaps it lacks), and asks crds for the reference types of the
pipeline (their aliases included: the community's ``dq`` is our ``mask``). A mapping whose embedded sha1sum is
stale (its text edited since) is refused in one line naming it, unless ``CRDS_IGNORE_MAPPING_CHECKSUM`` is true
(``1``): then it is used, and reported on stderr as ``crds_fetch: warning: <mapping>: embedded sha1sum ... is
stale ...``; the compute jobs need that setting too, for crds to load it. A reference that is a Git LFS pointer
rather than the file is refused.
"""

import argparse
import functools
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .bestrefs import best_references, crds_parameters, expand_inputs, local_crds
from .cache import (
    cache_records,
    check_cached,
    check_record,
    claim_flat_cache,
    install_file,
    install_mapping_closure,
    refuse_lfs_pointer,
    write_cache_config,
    write_text,
)
from .errors import FetchError
from .layout import REFERENCE, Layout, checked_name
from .mappings import stale_checksums_accepted
from .server_config import download_metadata, read_store_config, resolve_context
from .transport import DEADLINE, StoreReader


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did: the context, each input's best references, and the files copied or found verified."""

    context: str
    bestrefs: dict  # {input path: {reftype: reference name or "N/A"}}
    copied: tuple  # file names copied into the cache
    present: tuple  # file names already in the cache, verified
    stale_checksums: tuple = ()  # one line per mapping used with a stale embedded sha1sum (accepted by opt-in)

    def references(self):
        """The distinct names of the references selected, sorted."""
        return sorted({name for selected in self.bestrefs.values() for name in selected.values() if name != "N/A"})


def select_references(store, inputs, crds_path, context=None, timeout=DEADLINE, accept_stale=None):
    """Copy the rules of ``context`` (default: the store's operational context) into the CRDS cache at
    ``crds_path`` and ask crds for the best references of ``inputs`` (frames or associations) under them.

    The references themselves are not copied (``fetch_references`` or ``fetch_reference`` do that), but
    those already in the cache are checked against the store's sha1, so a cache shared with another store
    cannot substitute its file. Returns a FetchResult whose ``copied``/``present`` list the mappings; raises
    FetchError naming the file or store and the problem. crds runs inside ``local_crds`` (the CRDS_*
    environment is swapped meanwhile). ``timeout``: the deadline, in seconds, of each file from the store.
    ``accept_stale``: use mappings whose embedded sha1sum is stale (reported in the result); default
    ``CRDS_IGNORE_MAPPING_CHECKSUM``.
    """
    reader = StoreReader(store, timeout)
    config = read_store_config(reader)
    selection = _select(reader, config, inputs, Layout(crds_path), context, accept_stale)
    references = Layout(crds_path).references
    for name in selection.references():
        if (references / name).exists():
            check_cached(references / name, download_metadata(reader, config, name), reader)
    return selection


def _select(reader, config, inputs, cache, context, accept_stale=None):
    """Install the mappings of the context the inputs need and record the sha1 of every file under them in the
    cache (one writer at a time), then ask crds for each frame's references."""
    accept_stale = stale_checksums_accepted() if accept_stale is None else accept_stale
    context = resolve_context(reader, config, context)
    frames = expand_inputs(inputs)
    parameters = {frame: crds_parameters(frame) for frame in frames}  # a bad input stops the fetch before any copy
    instruments = {str(values.get("meta.instrument.name", "")).lower() for values in parameters.values()}

    with cache.lock():
        claim_flat_cache(cache)
        records = cache_records(cache)
        mappings, context_references, stale = install_mapping_closure(
            reader, config, context, cache, records, instruments, accept_stale
        )
        # A reference the rules name but the store lacks (the community's drizpars) matters only if selected.
        listed = sorted(name for name in context_references if name in config["download_metadata"])
        metadata = {name: download_metadata(reader, config, name) for name in sorted(mappings) + listed}
        for name in listed:
            check_record(cache, records, name, metadata[name], reader)
        write_cache_config(cache, context, {**records, **metadata})

    with local_crds(cache.root, ignore_mapping_checksum=bool(stale)):
        bestrefs = {frame: best_references(parameters[frame], context, frame) for frame in frames}
    return FetchResult(
        context=context,
        bestrefs=bestrefs,
        copied=tuple(name for name, copied in mappings.items() if copied),
        present=tuple(name for name, copied in mappings.items() if not copied),
        stale_checksums=tuple(stale),
    )


def fetch_reference(store, name, crds_path, config=None, timeout=DEADLINE):
    """Copy the reference ``name`` from the store into the cache at ``crds_path``, verified; True if copied.

    A copy already there, or one the cache recorded, must be the store's file.
    """
    reader = StoreReader(store, timeout)
    config = config or read_store_config(reader)  # callers copying many references read it once
    return _install_reference(reader, config, name, Layout(crds_path))


def _install_reference(reader, config, name, cache):
    """Copy the reference ``name`` from the store into the flat ``cache``, verified; True if copied."""
    name = checked_name(name, REFERENCE, "reference")
    metadata = download_metadata(reader, config, name)
    claim_flat_cache(cache)
    check_record(cache, cache_records(cache), name, metadata, reader)
    where = reader.where("references", name)
    inspect = functools.partial(refuse_lfs_pointer, where=where)
    copied, _ = install_file(reader, "references", name, metadata, cache.references, inspect=inspect)
    return copied


def fetch_references(store, inputs, crds_path, context=None, timeout=DEADLINE, accept_stale=None):
    """``select_references``, then copy every selected reference into the cache: all that ``inputs`` need."""
    reader = StoreReader(store, timeout)
    config = read_store_config(reader)
    cache = Layout(crds_path)
    selection = _select(reader, config, inputs, cache, context, accept_stale)
    names = selection.references()
    copied = {name: _install_reference(reader, config, name, cache) for name in names}
    return replace(
        selection,
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


def stale_checksum_warnings(result):
    """One warning line per mapping the fetch used with a stale embedded sha1sum."""
    return [f"warning: {report}; used as CRDS_IGNORE_MAPPING_CHECKSUM says" for report in result.stale_checksums]


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
    for line in stale_checksum_warnings(result):
        print(f"crds_fetch: {line}", file=sys.stderr)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
