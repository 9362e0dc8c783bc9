"""Reference store writer: references and versioned CRDS rules, in the layout of a CRDS cache (``layout``).

``add_references(store, paths)`` copies the references in and writes a new context: the next
``ligeriri_NNNN.pmap``, and a new imap and rmap for each (instrument, reftype) that changed. Every older
mapping stays, so every earlier context still selects what it selected. An rmap lists all references of
its type: those of the previous rmap plus the new ones, each under ``Match`` on the values of its parkeys
(from its own header; a parkey the reference leaves unset is ``N/A``, i.e. any value, and so is the
SUBARRAY of a full-frame reference, which serves every window) and ``UseAfter`` on its USEAFTER. A new
reference with the same match and USEAFTER as an old one replaces it.

Writers of one store take turns (``Layout.lock``): each reads the store's config and mappings, adds its
context and writes them back while no other writer can. A reference's name must pass the rule the fetch
applies (``layout.checked_name``), and its match values must be plain values, which crds cannot read as a
pattern (``*``, ``A|B``, ``(regex)``, ``NOT ...``). A store is flat and says so in ``ref_cache_subdir_mode``.

``index_store(store)`` records the sha1 and size of every file of a store another writer laid out (the
community's cache, by instrument, has none) in its server_config's ``download_metadata``, which the fetch checks
every copy against.
"""

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from .. import atomic, datamodels, units
from ..crds_ligeriri import HERE as PLUGIN_DIRECTORY
from ..crds_ligeriri.locate import REFERENCE_NAME
from .errors import StoreError
from .layout import (
    BY_INSTRUMENT,
    FLAT,
    OBSERVATORY,
    REFERENCE,
    REFERENCE_EXTENSIONS,
    Layout,
    checked_name,
    is_lfs_pointer,
    reference_instrument,
    sha1,
)
from .mappings import dict_selector, mapping_text, rmap_selector, selected_names, split_mapping

INSTRUMENTS = ("iris", "liger")
_SERIAL = re.compile(r"_(\d{4,})\.[pir]map$")
#: A match value crds compares as it is: no glob, alternative, regex, relation or negation.
_PLAIN_VALUE = re.compile(r"[A-Z0-9][A-Z0-9_.+-]*")
#: Match values with a meaning of their own: N/A (any value; written for unset parkeys) and ANY (a
#: reference for every read mode, a READMODE of the schema).
_WILDCARDS = ("N/A", "ANY")


def _type_specs():
    """{instrument: {reftype: spec}} from the CRDS plug-in's specs: the one list of reftypes and parkeys."""
    return json.loads((Path(PLUGIN_DIRECTORY) / "specs" / "combined_specs.json").read_text())


class Store(Layout):
    """A reference store directory."""

    def server_config(self):
        if not self.config_path.exists():
            return {
                "observatory": OBSERVATORY,
                "operational_context": None,
                "edit_context": None,
                "context_history": [],
                "bad_files_list": [],
                "force_remote_mode": False,
                "download_metadata": {},
            }
        return ast.literal_eval(self.config_path.read_text())

    def read_mapping(self, name):
        """(header, selector) of a mapping in the store; rmap selectors come back as their text."""
        header, selector_text = split_mapping((self.mappings / name).read_text())
        if name.endswith(".rmap"):
            return header, selector_text
        return header, ast.literal_eval(selector_text)

    def rmap_references(self, name):
        """Reference names in an rmap of the store, in order."""
        return [leaf for leaf in selected_names(self.read_mapping(name)[1]) if leaf != "N/A"]

    def next_serial(self, prefix, extension):
        serials = [int(m.group(1)) for path in self.mappings.glob(f"{prefix}_*{extension}") if (m := _SERIAL.search(path.name))]
        return max(serials, default=0) + 1

    def write_mapping(self, name, text):
        """Write a new mapping atomically; an existing file of that name is never overwritten."""
        target = self.mappings / checked_name(name, Path(name).suffix, self.mappings)
        if target.exists():
            raise StoreError(f"{target}: already in the store")
        self.mappings.mkdir(parents=True, exist_ok=True)
        atomic.write_text(target, text)
        return target


def _parkey_value(model, parkey):
    """The match value of ``parkey`` for a reference: N/A (any) where unset, and for a full-frame
    reference's SUBARRAY, since the steps cut a full-frame reference to any window."""
    if parkey == "META.SUBARRAY.NAME" and model.meta.subarray.name in (None, "FULL"):
        return "N/A"
    node = model.meta
    for part in parkey.lower().split(".")[1:]:
        node = getattr(node, part, None)
        if node is None:
            return "N/A"
    return str(node).upper()


def _check_unit(model, reftype, path):
    """A reference enters the store only in a unit the steps accept for its type (a flat without BUNIT would be
    refused by every step that selects it)."""
    if reftype not in units.REFERENCE_UNITS:
        return
    try:
        if units.data_unit(model, units.REFERENCE_UNITS[reftype], str(path)) == units.COUNTS and reftype == "dark":
            units.counts_exposure_time(model, str(path))
    except units.UnitError as error:
        raise StoreError(str(error)) from error


def _describe_reference(path, new=False):
    """(instrument, reftype, match tuple, useafter) of a reference file, from its header. A ``new`` reference
    named by the convention must be what its name says (instrument, detector, reftype): crds and the products'
    R_* keywords go by the name."""
    try:
        model = datamodels.open(path)
    except datamodels.DataModelError as error:
        raise StoreError(str(error)) from error
    with model:
        if model.reftype is None:
            raise StoreError(f"{path}: not a reference file ({model.meta.model_type})")
        instrument = model.meta.instrument.name.lower()
        reftype = (model.meta.reftype or "").lower()
        specs = _type_specs()
        if reftype not in specs.get(instrument, {}):
            raise StoreError(f"{path}: REFTYPE {model.meta.reftype!r} is not a {instrument} reference type")
        _check_unit(model, reftype, path)
        if not model.meta.useafter:
            raise StoreError(f"{path}: missing required keyword(s) USEAFTER")
        try:
            useafter = datetime.fromisoformat(model.meta.useafter).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError as error:
            raise StoreError(f"{path}: USEAFTER {model.meta.useafter!r} is not an ISO date") from error
        match_parkeys = specs[instrument][reftype]["parkey"][0]
        match = tuple(_parkey_value(model, parkey) for parkey in match_parkeys)
        named = REFERENCE_NAME.fullmatch(Path(path).stem) if new else None
        if named:
            header = (model.meta.instrument.name, model.meta.instrument.detector, model.meta.reftype)
            said = (named["instrument"].upper(), named["detector"], named["filekind"])
            if said != tuple(str(value).upper() for value in header):
                raise StoreError(
                    f"{path}: the name says {' '.join(said)}, the header {' '.join(map(str, header))} "
                    "(INSTRUME, DETECTOR, REFTYPE)"
                )
    for parkey, value in zip(match_parkeys, match, strict=True):
        if value not in _WILDCARDS and not _PLAIN_VALUE.fullmatch(value):
            raise StoreError(
                f"{path}: {parkey} {value!r} is not a plain value (letters, digits and _.+- only): "
                "crds would read it as a pattern"
            )
    return instrument, reftype, match, useafter


def _describe_new_references(paths):
    """[(path, instrument, reftype, match, useafter)] of the references to add, each name checked by the
    fetch's rule; a file given twice counts once. StoreError for two different files of one name, or two
    new references for one selection (same type, match values and USEAFTER)."""
    described, by_name, by_selection = [], {}, {}
    for path in map(Path, paths):
        checked_name(path.name, REFERENCE, path)
        if path.name in by_name:
            if sha1(by_name[path.name]) != sha1(path):
                raise StoreError(f"{path}: a different file named {path.name} is also given ({by_name[path.name]})")
            continue
        by_name[path.name] = path
        instrument, reftype, match, useafter = _describe_reference(path, new=True)
        selection = (instrument, reftype, match, useafter)
        if selection in by_selection:
            raise StoreError(
                f"{path}: selected for the same {instrument} {reftype} match {match} from {useafter} as "
                f"{by_selection[selection]}, also given: a context selects one of them"
            )
        by_selection[selection] = path
        described.append((path, *selection))
    return described


def add_references(store_root, reference_paths, description="new references"):
    """Copy ``reference_paths`` into the store at ``store_root`` and write a new context; returns its name.

    Concurrent writers of one store take turns, each adding its context to the others'."""
    store = Store(store_root)
    described = _describe_new_references(reference_paths)
    with store.lock():
        if store.subdir_mode() != FLAT:
            raise StoreError(
                f"{store.subdir_mode_path}: the store's references are laid out by {store.subdir_mode()}; "
                "crds_add_references writes flat stores"
            )
        return _add_context(store, described, description)


def _add_context(store, described, description):
    """Write the new context of the references ``described`` (with the store locked)."""
    config = store.server_config()
    previous = config["operational_context"]
    specs = _type_specs()

    for path, *_ in described:
        stored = store.references / path.name
        if stored.exists() and sha1(stored) != sha1(path):
            raise StoreError(f"{path}: a different file named {path.name} is already in the store")

    # The rules in force: {instrument: {reftype: rmap name or "N/A"}}.
    rules = {instrument: dict.fromkeys(specs[instrument], "N/A") for instrument in INSTRUMENTS}
    imaps = {}
    if previous:
        _, pipeline = store.read_mapping(previous)
        for instrument_name, imap in pipeline.items():
            imaps[instrument_name.lower()] = imap
            rules[instrument_name.lower()].update(
                {reftype.lower(): rmap for reftype, rmap in store.read_mapping(imap)[1].items()}
            )

    # New rmaps for the (instrument, reftype) pairs that change.
    additions = {}
    for path, instrument, reftype, match, useafter in described:
        additions.setdefault((instrument, reftype), []).append((match, useafter, path.name))
    new_files = []
    for (instrument, reftype), entries in sorted(additions.items()):
        selections = {}
        old_rmap = rules[instrument][reftype]
        if old_rmap != "N/A":
            for name in store.rmap_references(old_rmap):
                _, _, match, useafter = _describe_reference(store.references / name)
                selections.setdefault(match, {})[useafter] = name
        for match, useafter, name in entries:
            selections.setdefault(match, {})[useafter] = name
        prefix = f"{OBSERVATORY}_{instrument}_{reftype}"
        name = f"{prefix}_{store.next_serial(prefix, '.rmap'):04d}.rmap"
        spec = specs[instrument][reftype]
        header = {
            "classes": ("Match", "UseAfter"),
            "derived_from": old_rmap if old_rmap != "N/A" else "generated by liger_iris_pipeline",
            "filekind": reftype.upper(),
            "instrument": instrument.upper(),
            "mapping": "REFERENCE",
            "name": name,
            "observatory": OBSERVATORY.upper(),
            "parkey": tuple(tuple(keys) for keys in spec["parkey"]),
        }
        new_files.append((name, mapping_text(header, rmap_selector(selections))))
        rules[instrument][reftype] = name

    # New imaps for the instruments that changed, and the new pmap.
    for instrument in sorted({instrument for instrument, _ in additions} | (set(INSTRUMENTS) - set(imaps))):
        prefix = f"{OBSERVATORY}_{instrument}"
        name = f"{prefix}_{store.next_serial(prefix, '.imap'):04d}.imap"
        header = {
            "derived_from": imaps.get(instrument, "generated by liger_iris_pipeline"),
            "instrument": instrument.upper(),
            "mapping": "INSTRUMENT",
            "name": name,
            "observatory": OBSERVATORY.upper(),
            "parkey": ("REFTYPE",),
        }
        selections = {reftype.upper(): rmap for reftype, rmap in rules[instrument].items()}
        new_files.append((name, mapping_text(header, dict_selector(selections))))
        imaps[instrument] = name
    context = f"{OBSERVATORY}_{store.next_serial(OBSERVATORY, '.pmap'):04d}.pmap"
    header = {
        "derived_from": previous or "generated by liger_iris_pipeline",
        "mapping": "PIPELINE",
        "name": context,
        "observatory": OBSERVATORY.upper(),
        "parkey": ("META.INSTRUMENT.NAME",),
    }
    selections = {instrument.upper(): imap for instrument, imap in imaps.items()}
    new_files.append((context, mapping_text(header, dict_selector(selections))))

    # References first, then mappings, then the config that points at them: a reader never sees a
    # context whose files are missing.
    store.references.mkdir(parents=True, exist_ok=True)
    for path, *_ in described:
        target = store.references / path.name
        if not target.exists():
            atomic.copy_file(path, target)
        config["download_metadata"][path.name] = {"size": target.stat().st_size, "sha1sum": sha1(target)}
    for name, text in new_files:
        target = store.write_mapping(name, text)
        config["download_metadata"][name] = {"size": target.stat().st_size, "sha1sum": sha1(target)}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    config.update(operational_context=context, edit_context=context, last_synced=now)
    config["context_history"].append((context, now, description))
    store.config_path.parent.mkdir(parents=True, exist_ok=True)
    if not store.subdir_mode_path.exists():
        atomic.write_text(store.subdir_mode_path, FLAT)
    atomic.write_text(store.config_path, repr(config))
    return context


def index_store(store_root):
    """Record the sha1 and size of every mapping and reference file of the store at ``store_root`` in its
    server_config (``download_metadata``, replaced), for the fetch to check copies against; returns the
    server_config. For a store another writer laid out: flat or by instrument (the community's cache), files that
    are not mappings or references (READMEs, scripts) left out. StoreError naming the file for a name the fetch
    would refuse, a reference in another instrument's directory or under a name already indexed, or a Git LFS
    pointer in place of a reference."""
    store = Store(store_root)
    if not store.config_path.exists():
        raise StoreError(f"{store.config_path}: no server_config: not a store")
    with store.lock():
        try:
            config = ast.literal_eval(store.config_path.read_text())
        except (ValueError, SyntaxError, UnicodeDecodeError, RecursionError) as error:
            raise StoreError(f"{store.config_path}: not a server_config ({type(error).__name__}: {error})") from error
        if not isinstance(config, dict) or config.get("observatory") != OBSERVATORY:
            raise StoreError(f"{store.config_path}: not a {OBSERVATORY} server_config")
        metadata = {}
        for path in sorted(store.mappings.glob("*.?map")):
            metadata[checked_name(path.name, path.suffix, path)] = _file_metadata(path)
        pattern = "*/*" if store.subdir_mode() == BY_INSTRUMENT else "*"
        for path in sorted(store.references.glob(pattern)):
            if not path.name.endswith(REFERENCE_EXTENSIONS):
                continue
            checked_name(path.name, REFERENCE, path)
            if pattern == "*/*" and reference_instrument(path.name, path) != path.parent.name:
                raise StoreError(f"{path}: a {reference_instrument(path.name, path)} reference in {path.parent.name}/")
            if path.name in metadata:
                raise StoreError(f"{path}: another file of this name is in the store")
            with open(path, "rb") as stream:
                if is_lfs_pointer(stream.read(64)):
                    raise StoreError(f"{path}: a Git LFS pointer, not the reference (git lfs pull gets the file)")
            metadata[path.name] = _file_metadata(path)
        config["download_metadata"] = metadata
        atomic.write_text(store.config_path, repr(config))
    return config


def _file_metadata(path):
    return {"size": path.stat().st_size, "sha1sum": sha1(path)}
