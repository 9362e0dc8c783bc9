"""Snakemake script: add the calibration products to the reference store as a new CRDS context, and name it."""

import json

from liger_iris_pipeline.atomic import write_text
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.workflow.job import job_log

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821 (snakemake global)
    references = list(snakemake.input.references)  # noqa: F821
    context = add_references(snakemake.params.store, references, snakemake.params.description)  # noqa: F821
    print(f"{context}: {', '.join(references)}", file=log)
    write_text(snakemake.output[0], json.dumps({"context": context, "references": references}, indent=2) + "\n")  # noqa: F821
