"""Snakemake script: tabulate the benchmark file of every job that has run so far, per rule."""

import contextlib
from pathlib import Path

from liger_iris_pipeline.quicklook import benchmark_summary

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    root = Path(snakemake.params.root)  # noqa: F821
    table = benchmark_summary(sorted(root.rglob("*.tsv")), root, snakemake.output[0])  # noqa: F821
    print(table, file=log)
