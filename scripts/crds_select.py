"""Snakemake script: select every frame's references under the context and write the selection table; say on the
terminal which steps references that do not apply (N/A) will skip."""

from liger_iris_pipeline.reference_store import select_references, stale_checksum_warnings, write_bestrefs_table
from liger_iris_pipeline.workflow.job import job_log
from liger_iris_pipeline.workflow.not_applicable import not_applicable_lines

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821 (snakemake global)
    result = select_references(
        snakemake.params.store,  # noqa: F821
        snakemake.input.frames,  # noqa: F821
        crds_path=snakemake.config["crds"]["cache"],  # noqa: F821
        context=snakemake.params.context,  # noqa: F821
    )
    write_bestrefs_table(snakemake.output.table, result)  # noqa: F821
    notes = not_applicable_lines(result.bestrefs, result.context, snakemake.params.frames)  # noqa: F821
    for line in stale_checksum_warnings(result) + notes:
        print(line, flush=True)
        print(line, file=log)
