"""Snakemake script: tabulate the benchmark file of every job that has run so far, per rule."""

from pathlib import Path

from liger_iris_pipeline.quicklook import benchmark_summary
from liger_iris_pipeline.workflow.job import job_log

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821 (snakemake global)
    root = Path(snakemake.params.root)  # noqa: F821
    table = benchmark_summary(sorted(root.rglob("*.tsv")), root, snakemake.output[0])  # noqa: F821
    print(table, file=log)
