"""Sphinx extension: the package's docstrings show indented blocks (formulas, command usage, file layouts)
verbatim, as they read in the code.

The docstrings are plain text, not reStructuredText: an indented block after a paragraph is meant as it is
written, where reStructuredText would make a block quote of it, joining its lines and turning ``--`` into a
dash. This marks each such block as a literal block (a ``::`` paragraph before it) when autodoc reads the
docstring. Blocks inside lists, field lists and directives, and those already after ``::``, are left alone.
"""

#: Starts of a line whose indented continuation belongs to it, not to a verbatim block.
_STRUCTURE_MARKERS = ("-", "*", "+", ":", "..", "|", ">>>")


def _is_paragraph_line(line):
    text = line.strip()
    return bool(text) and not line[:1].isspace() and not text.startswith(_STRUCTURE_MARKERS)


def mark_verbatim_blocks(lines):
    """Insert ``::`` (and a blank line) before every indented block that follows a plain paragraph; in place."""
    index = 1
    while index < len(lines):
        starts_block = lines[index][:1].isspace() and lines[index].strip() and not lines[index - 1].strip()
        if starts_block:
            previous = next((line for line in reversed(lines[: index - 1]) if line.strip()), "")
            if _is_paragraph_line(previous) and not previous.rstrip().endswith("::"):
                lines[index:index] = ["::", ""]
                index += 2
        index += 1


def on_docstring(app, what, name, obj, options, lines):
    if what == "module" and obj.__doc__:
        # A module docstring starts at column 0, so its indentation is all meant. autodoc dedents it as if it
        # were a function's, which flattens a docstring whose lines after the first are all indented.
        lines[:] = [line.rstrip() for line in obj.__doc__.expandtabs().strip("\n").splitlines()] + [""]
    mark_verbatim_blocks(lines)


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", on_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
