"""Sphinx configuration of the liger_iris_pipeline documentation (build: ``make docs``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from liger_iris_pipeline import __version__  # noqa: E402

project = "liger_iris_pipeline"
author = "Liger/IRIS DRS developers"
copyright = "2026, Liger/IRIS DRS developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

# The docstrings are plain text (see _ext/verbatim_docstrings.py), not NumPy or Google style: no napoleon, which
# would also read an attribute comment such as "#: False: ..." as a type.
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "package_reference",  # step, module, CRDS-rule and DQ-flag pages generated from the package
    "workflow_graph",  # the workflow's graph, drawn by snakemake at build time
    "verbatim_docstrings",  # indented blocks of the plain-text docstrings shown as written
    # The benchmarks' Markdown results (benchmarks/results/*.md) on the performance page. Not myst-parser, which
    # is not pinned in constraints.txt: a small reader of the benchmarks' own Markdown (paragraphs and pipe
    # tables) that fails the build on anything else, see _ext/benchmark_results.py.
    "benchmark_results",
]

exclude_patterns = ["_build", "README.md"]
templates_path = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"

graphviz_output_format = "svg"

html_theme = "alabaster"
html_title = f"liger_iris_pipeline {release}"
html_theme_options = {
    "description": "Data Reduction System for the IRIS and Liger imagers",
    "page_width": "1140px",
    "sidebar_width": "260px",
}
highlight_language = "text"  # docstrings and literal blocks are plain text unless a code-block names a language

# Every reference into the package must resolve (-W makes a broken one an error); references to other
# libraries' objects (numpy, stpipe, ...) are not checked, as their docs are not linked offline.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!liger_iris_pipeline\b).*")]
