"""Snakemake script: gather the night's QA rows into the summary table and plots."""

import contextlib

from liger_iris_pipeline.quicklook import night_summary

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    output = snakemake.output  # noqa: F821
    table = night_summary(snakemake.input.qa, output.csv, output.plot, output.html)  # noqa: F821
    print(f"{len(table)} frames", file=log)
