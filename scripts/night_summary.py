"""Snakemake script: gather the night's QA rows into the summary table and plots; say on the terminal which frames
had steps skipped."""

from liger_iris_pipeline.quicklook import night_summary, skipped_summary
from liger_iris_pipeline.workflow.job import job_log

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821 (snakemake global)
    output = snakemake.output  # noqa: F821
    table = night_summary(snakemake.input.qa, output.csv, output.plot, output.html)  # noqa: F821
    print(f"{len(table)} frames", file=log)
    line = skipped_summary(table, output.html)
    if line:
        print(line, flush=True)
        print(line, file=log)
