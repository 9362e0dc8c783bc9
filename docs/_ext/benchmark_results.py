"""Sphinx directive ``benchmark-result``: a benchmark's Markdown result, ``benchmarks/results/<name>.md``, shown
as it is on the page.

The benchmarks write their results as Markdown (paragraphs and pipe tables), which GitHub shows as it is; this
site shows the same files, so that every measured figure is written once, by the benchmark that measured it.
Sphinx reads only reStructuredText here: myst-parser is not among the pinned dependencies (constraints.txt),
and ``literalinclude`` would show the tables as Markdown source. So this directive reads the one kind of
Markdown the benchmarks write, paragraphs of text with ``**bold**`` and ```code``` and pipe tables (a header
row, the ``|---|---:|`` row, then the rows), and builds the docutils nodes directly (no reStructuredText is
generated, so nothing in a result needs escaping). Anything else in a result file, a heading, a list, a
table whose rows differ in length, is an error naming the file and line, which fails the docs build
(``-W``) rather than showing a result wrongly. The page is rebuilt when the result file changes.

Usage::

    .. benchmark-result:: workflow_scale
"""

import re
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
#: Inline Markdown the benchmarks write: ``code`` spans and **bold**.
INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*")
#: A cell separator: a | not escaped as \|.
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
ALIGNMENT_CELL = re.compile(r"^\s*(:?)-{3,}(:?)\s*$")
#: Line starts of Markdown this directive does not render (headings, lists, quotes, code fences).
UNSUPPORTED = re.compile(r"^\s*(#|[-*+]\s|\d+\.\s|>|```|~~~)")


class MarkdownError(ValueError):
    def __init__(self, line, message):
        super().__init__(message)
        self.line = line


def inline_nodes(text):
    """The nodes of one line or cell of Markdown text."""
    result = []
    position = 0
    for match in INLINE.finditer(text):
        if match.start() > position:
            result.append(nodes.Text(text[position : match.start()]))
        code, bold = match.groups()
        if code is not None:
            result.append(nodes.literal(code, code))
        else:
            result.append(nodes.strong(bold, "", *inline_nodes(bold)))
        position = match.end()
    if position < len(text):
        result.append(nodes.Text(text[position:]))
    return result


def split_row(line, number):
    """The cells of a pipe-table row ``| a | b |``."""
    text = line.strip()
    if not (text.startswith("|") and text.endswith("|")) or len(text) < 2:
        raise MarkdownError(number, f"a table row must start and end with '|': {line!r}")
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(text[1:-1])]


def table_node(lines, first_line):
    """A docutils table from the lines of a pipe table: header, alignment row, rows."""
    if len(lines) < 2:
        raise MarkdownError(first_line, "a table needs a header row and an alignment row")
    header = split_row(lines[0], first_line)
    alignments = []
    for cell in split_row(lines[1], first_line + 1):
        match = ALIGNMENT_CELL.match(cell)
        if not match:
            raise MarkdownError(first_line + 1, f"not an alignment row (|---|---:|): {lines[1]!r}")
        alignments.append("right" if match.group(2) and not match.group(1) else "left")
    rows = [split_row(line, first_line + 2 + index) for index, line in enumerate(lines[2:])]
    for index, row in enumerate([header, alignments, *rows]):
        if len(row) != len(header):
            raise MarkdownError(
                first_line + index, f"{len(row)} cells where the header has {len(header)}: {lines[index]!r}"
            )

    def row_node(cells, entry_classes):
        row = nodes.row()
        for cell, classes in zip(cells, entry_classes):
            entry = nodes.entry(classes=classes)
            if cell:
                entry += nodes.paragraph(cell, "", *inline_nodes(cell))
            row += entry
        return row

    table = nodes.table(classes=["benchmark-result"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    head += row_node(header, [[f"align-{alignment}"] for alignment in alignments])
    group += head
    body = nodes.tbody()
    for row in rows:
        body += row_node(row, [[f"align-{alignment}"] for alignment in alignments])
    group += body
    return table


def markdown_nodes(text):
    """Paragraphs and tables of a benchmark's Markdown result."""
    result = []
    block, start = [], 0
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
            continue
        if not block:
            continue
        if all(row.lstrip().startswith("|") for row in block):
            result.append(table_node(block, start))
        elif any(row.lstrip().startswith("|") for row in block):
            raise MarkdownError(start, "a table must be separated from text by a blank line")
        else:
            for offset, row in enumerate(block):
                if UNSUPPORTED.match(row):
                    raise MarkdownError(start + offset, f"Markdown this directive does not render: {row!r}")
            paragraph = " ".join(row.strip() for row in block)
            result.append(nodes.paragraph(paragraph, "", *inline_nodes(paragraph)))
        block = []
    return result


class BenchmarkResult(SphinxDirective):
    """``.. benchmark-result:: <name>``: ``benchmarks/results/<name>.md`` as paragraphs and tables."""

    required_arguments = 1
    has_content = False

    def run(self):
        name = self.arguments[0]
        path = RESULTS / f"{name}.md"
        if not path.is_file():
            raise self.error(f"benchmark-result: no result file {path}")
        self.env.note_dependency(str(path))
        self.env.note_dependency(__file__)
        try:
            result = markdown_nodes(path.read_text(encoding="utf-8"))
        except MarkdownError as error:
            raise self.error(f"benchmark-result: {path}:{error.line}: {error}") from None
        for node in result:
            # Shown as written: no smart quotes, which would turn "--cores 2" into an en dash.
            node["support_smartquotes"] = False
        return result


def setup(app):
    app.add_directive("benchmark-result", BenchmarkResult)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
