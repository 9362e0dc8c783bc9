"""Snakemake script: copy one selected reference from the store into the local CRDS cache, checked."""

from pathlib import Path

from liger_iris_pipeline.reference_store import fetch_reference
from liger_iris_pipeline.workflow.job import job_log

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821 (snakemake global)
    fetch_reference(
        snakemake.params.store,  # noqa: F821
        Path(snakemake.output[0]).name,  # noqa: F821
        crds_path=snakemake.config["crds"]["cache"],  # noqa: F821
    )
