"""Reference store writer: references and versioned CRDS rules, in the layout of a CRDS cache.

    <store>/config/ligeriri/server_config     context in force, the context history, sha1 and size of every file
    <store>/mappings/ligeriri/*.pmap|imap|rmap
    <store>/references/ligeriri/*.fits

``add_references(store, paths)`` copies the references in and writes a new context: the next
``ligeriri_NNNN.pmap``, and a new imap and rmap for each (instrument, reftype) that changed. Every older
mapping stays, so every earlier context still selects what it selected. An rmap lists all references of
its type: those of the previous rmap plus the new ones, each under ``Match`` on the values of its parkeys
(from its own header; a parkey the reference leaves unset is ``N/A``, i.e. any value, and so is the
SUBARRAY of a full-frame reference, which serves every window) and ``UseAfter`` on its USEAFTER. A new reference with the same match and USEAFTER as an old one replaces it.
"""

import ast
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from .. import atomic, datamodels
from ..crds_ligeriri import HERE as PLUGIN_DIRECTORY

OBSERVATORY = "ligeriri"
INSTRUMENTS = ("iris", "liger")
USEAFTER_PARKEYS = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")
_SERIAL = re.compile(r"_(\d{4})\.[pir]map$")


class StoreError(ValueError):
    """A reference or store that cannot be used; the message names the file and the problem."""


def _type_specs():
    """{instrument: {reftype: spec}} from the CRDS plug-in's specs: the one list of reftypes and parkeys."""
    return json.loads((Path(PLUGIN_DIRECTORY) / "specs" / "combined_specs.json").read_text())


def sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mapping_checksum(text):
    """The sha1sum CRDS expects in a mapping header: over the text without the lines that mention sha1sum."""
    body = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    return hashlib.sha1(body.encode("utf-8")).hexdigest()


def split_mapping(text):
    """(header dict, selector text) of a mapping's text; the header is read as a literal, never executed.

    Raises ValueError, SyntaxError or IndexError for text that is not a mapping.
    """
    header_text, selector_text = text.split("\nselector = ", 1)
    return ast.literal_eval(header_text.split("header = ", 1)[1]), selector_text


class Store:
    """A reference store directory."""

    def __init__(self, root):
        self.root = Path(root)
        self.config_path = self.root / "config" / OBSERVATORY / "server_config"
        self.mappings = self.root / "mappings" / OBSERVATORY
        self.references = self.root / "references" / OBSERVATORY

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
        return re.findall(r"'([^']+\.fits)'", self.read_mapping(name)[1])

    def next_serial(self, prefix, extension):
        serials = [int(m.group(1)) for path in self.mappings.glob(f"{prefix}_*{extension}") if (m := _SERIAL.search(path.name))]
        return max(serials, default=0) + 1

    def write_text(self, directory, name, text):
        """Write a new file atomically; an existing file of that name is never overwritten."""
        target = directory / name
        if target.exists():
            raise StoreError(f"{target}: already in the store")
        directory.mkdir(parents=True, exist_ok=True)
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


def _describe_reference(path):
    """(instrument, reftype, match tuple, useafter) of a reference file, from its header."""
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
        if not model.meta.useafter:
            raise StoreError(f"{path}: missing required keyword(s) USEAFTER")
        try:
            useafter = datetime.fromisoformat(model.meta.useafter).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError as error:
            raise StoreError(f"{path}: USEAFTER {model.meta.useafter!r} is not an ISO date") from error
        match_parkeys = specs[instrument][reftype]["parkey"][0]
        match = tuple(_parkey_value(model, parkey) for parkey in match_parkeys)
    return instrument, reftype, match, useafter


def _header_text(header):
    lines = ["header = {"]
    lines += [f"    {key!r} : {value!r}," for key, value in sorted(header.items())]
    return "\n".join(lines) + "\n}\n"


def _mapping_text(header, selector_text):
    """Mapping text with its sha1sum filled in."""
    text = _header_text({**header, "sha1sum": "0" * 40}) + "\nselector = " + selector_text
    return text.replace("0" * 40, mapping_checksum(text), 1)


def _rmap_selector(entries):
    """Match({match: UseAfter({date: reference})}) text from {match: {date: reference}}."""
    lines = ["Match({"]
    for match in sorted(entries):
        lines.append(f"    {match!r} : UseAfter({{")
        lines += [f"        {date!r} : {reference!r}," for date, reference in sorted(entries[match].items())]
        lines.append("    }),")
    return "\n".join(lines) + "\n})\n"


def _dict_selector(selections):
    return "{\n" + "".join(f"    {key!r} : {value!r},\n" for key, value in sorted(selections.items())) + "}\n"


def add_references(store_root, reference_paths, description="new references"):
    """Copy ``reference_paths`` into the store at ``store_root`` and write a new context; returns its name."""
    store = Store(store_root)
    config = store.server_config()
    previous = config["operational_context"]
    specs = _type_specs()

    described = [(Path(path), *_describe_reference(path)) for path in reference_paths]
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
        new_files.append((name, _mapping_text(header, _rmap_selector(selections))))
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
        new_files.append((name, _mapping_text(header, _dict_selector(selections))))
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
    new_files.append((context, _mapping_text(header, _dict_selector(selections))))

    # References first, then mappings, then the config that points at them: a reader never sees a
    # context whose files are missing.
    store.references.mkdir(parents=True, exist_ok=True)
    for path, *_ in described:
        target = store.references / path.name
        if not target.exists():
            atomic.copy_file(path, target)
        config["download_metadata"][path.name] = {"size": target.stat().st_size, "sha1sum": sha1(target)}
    for name, text in new_files:
        target = store.write_text(store.mappings, name, text)
        config["download_metadata"][name] = {"size": target.stat().st_size, "sha1sum": sha1(target)}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    config.update(operational_context=context, edit_context=context, last_synced=now)
    config["context_history"].append((context, now, description))
    store.config_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(store.config_path, repr(config))
    return context
