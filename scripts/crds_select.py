"""Snakemake script: select every frame's references under the context and write the selection table."""

import contextlib

from liger_iris_pipeline.reference_store import select_references, write_bestrefs_table

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    result = select_references(
        snakemake.params.store,  # noqa: F821
        snakemake.input.frames,  # noqa: F821
        crds_path=snakemake.config["crds"]["cache"],  # noqa: F821
        context=snakemake.params.context,  # noqa: F821
    )
    write_bestrefs_table(snakemake.output.table, result)  # noqa: F821
