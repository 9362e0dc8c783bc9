"""CRDS mapping text (pmap, imap, rmap): written by the store writer, read and checked by the fetch. A mapping
is a Python-like text, ``header = {...}`` then ``selector = ...``; it is parsed, never executed.

A mapping's header carries the sha1 of its text (``sha1sum``). One whose text was edited after its sha1sum was
written (the community cache's are all so) has a **stale** checksum: the fetch refuses it, with one line naming it,
unless ``CRDS_IGNORE_MAPPING_CHECKSUM`` is true (crds's own setting, which crds needs too to load such a mapping
in the compute jobs), and then reports it and uses it.
"""

import ast
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import FetchError
from .layout import OBSERVATORY, REFERENCE, checked_name

#: What each kind of mapping selects.
CHILD_KIND = {".pmap": ".imap", ".imap": ".rmap", ".rmap": REFERENCE}
#: crds's setting that loads mappings whose embedded sha1sum does not match their text; the fetch's opt-in too.
IGNORE_CHECKSUM_VARIABLE = "CRDS_IGNORE_MAPPING_CHECKSUM"
#: Its values, spelled as crds reads them (crds.core.config.env_str_to_bool); unset is false.
_TRUE = ("True", "true", "TRUE", "T", "t", "1")
_FALSE = ("False", "false", "FALSE", "F", "f", "0", "")


def stale_checksums_accepted(environ=None):
    """Whether ``CRDS_IGNORE_MAPPING_CHECKSUM`` is true in ``environ`` (default: this process's environment);
    FetchError for a value crds would not read as true or false."""
    value = (os.environ if environ is None else environ).get(IGNORE_CHECKSUM_VARIABLE, "")
    if value not in _TRUE + _FALSE:
        raise FetchError(f"{IGNORE_CHECKSUM_VARIABLE}={value!r}: neither true (1, true) nor false (0, false)")
    return value in _TRUE


@dataclass(frozen=True)
class MappingContent:
    """What the fetch reads from a mapping: what it selects, and the report of a stale checksum (or None)."""

    children: tuple  # ((selector key, lower case: an instrument or reference type; None in an rmap), file name), ...
    stale: str | None


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


def selected_names(selector_text):
    """The values a selector selects (imap, rmap or reference names, and "N/A"), in order.

    Raises SyntaxError, ValueError or RecursionError for a selector that is not dicts and Match/UseAfter calls.
    """
    return list(_leaves(ast.parse(selector_text.strip(), mode="eval").body))


def _leaves(node):
    if isinstance(node, ast.Call):
        for argument in node.args:
            yield from _leaves(argument)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _leaves(value)
    else:
        value = ast.literal_eval(node)
        yield from value if isinstance(value, tuple) else (value,)


def mapping_children(path, name, source, accept_stale=False):
    """The MappingContent of the mapping at ``path``: the checked names of the files it selects (imaps, rmaps or
    references) with their selector keys, after checking that its header names it and that its embedded sha1sum
    matches its text. FetchError naming ``source`` if not; a stale sha1sum is only reported with
    ``accept_stale``."""
    suffix = Path(name).suffix
    try:
        text = Path(path).read_text(encoding="utf-8")
        header, selector_text = split_mapping(text)
        if suffix == ".rmap":
            pairs = [(None, leaf) for leaf in selected_names(selector_text)]
        else:
            selections = ast.literal_eval(selector_text.strip())
            if not isinstance(selections, dict):
                raise ValueError(f"the selector of a {suffix} is a dict, not a {type(selections).__name__}")
            pairs = [(str(key).lower(), leaf) for key, leaf in selections.items()]
    except (ValueError, SyntaxError, IndexError, UnicodeDecodeError, RecursionError) as error:
        raise FetchError(f"{source}: not a mapping ({type(error).__name__}: {error})") from error
    if not isinstance(header, dict) or header.get("observatory") != OBSERVATORY.upper():
        raise FetchError(f"{source}: header does not name it as a {OBSERVATORY.upper()} mapping")
    if header.get("name") != name:
        raise FetchError(f"{source}: its header names it {header.get('name')!r}, not {name!r}")
    stale = None
    if header.get("sha1sum") != mapping_checksum(text):
        stale = (
            f"{source}: embedded sha1sum {header.get('sha1sum')} is stale (the text's sha1 is "
            f"{mapping_checksum(text)})"
        )
        if not accept_stale:
            raise FetchError(f"{stale}; {IGNORE_CHECKSUM_VARIABLE}=1 uses it anyway")
    child_kind = CHILD_KIND[suffix]
    children = tuple((key, checked_name(leaf, child_kind, source)) for key, leaf in pairs if leaf != "N/A")
    return MappingContent(children, stale)


def mapping_text(header, selector_text):
    """Mapping text from its header dict and selector text, with its sha1sum filled in."""
    lines = ["header = {"]
    lines += [f"    {key!r} : {value!r}," for key, value in sorted({**header, "sha1sum": "0" * 40}.items())]
    text = "\n".join(lines) + "\n}\n" + "\nselector = " + selector_text
    return text.replace("0" * 40, mapping_checksum(text), 1)


def rmap_selector(entries):
    """Match({match: UseAfter({date: reference})}) text from {match: {date: reference}}."""
    lines = ["Match({"]
    for match in sorted(entries):
        lines.append(f"    {match!r} : UseAfter({{")
        lines += [f"        {date!r} : {reference!r}," for date, reference in sorted(entries[match].items())]
        lines.append("    }),")
    return "\n".join(lines) + "\n})\n"


def dict_selector(selections):
    """Selector text of a pmap or imap: {key: mapping name}."""
    return "{\n" + "".join(f"    {key!r} : {value!r},\n" for key, value in sorted(selections.items())) + "}\n"
