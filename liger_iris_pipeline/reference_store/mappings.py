"""CRDS mapping text (pmap, imap, rmap): written by the store writer, read and checked by the fetch. A mapping
is a Python-like text, ``header = {...}`` then ``selector = ...``; it is parsed, never executed."""

import ast
import hashlib
from pathlib import Path

from .errors import FetchError
from .layout import OBSERVATORY, REFERENCE, checked_name

#: What each kind of mapping selects.
CHILD_KIND = {".pmap": ".imap", ".imap": ".rmap", ".rmap": REFERENCE}


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


def mapping_children(path, name, source):
    """Checked names of the files the mapping at ``path`` selects (imaps, rmaps or references), after checking
    that its header names it and its embedded sha1sum matches its text; FetchError naming ``source`` if not."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        header, selector_text = split_mapping(text)
        leaves = selected_names(selector_text)
    except (ValueError, SyntaxError, IndexError, UnicodeDecodeError, RecursionError) as error:
        raise FetchError(f"{source}: not a mapping ({type(error).__name__}: {error})") from error
    if not isinstance(header, dict) or header.get("name") != name or header.get("observatory") != OBSERVATORY.upper():
        raise FetchError(f"{source}: header does not name it as a {OBSERVATORY.upper()} mapping")
    if header.get("sha1sum") != mapping_checksum(text):
        raise FetchError(f"{source}: embedded sha1sum does not match the mapping's text")
    child_kind = CHILD_KIND[Path(name).suffix]
    return [checked_name(leaf, child_kind, source) for leaf in leaves if leaf != "N/A"]


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
