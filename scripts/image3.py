"""Snakemake script: Image3Pipeline on an observation's L2b frames, writing their _crf frames, the _i2d mosaic, its
_cat.ecsv catalogue and _cat.reg regions under the names the rule declares, drizzling in as many processes as the
job has threads; its log in the rule's log file, ending with one line on failure."""

import os

from liger_iris_pipeline import Image3Pipeline
from liger_iris_pipeline.workflow.job import job_log

with job_log(snakemake.log[0], snakemake.output):  # noqa: F821 (snakemake global)
    Image3Pipeline.call(
        list(snakemake.input.frames),  # noqa: F821
        config_file=snakemake.input.cfg,  # noqa: F821
        output_dir=os.path.dirname(snakemake.output.mosaic),  # noqa: F821
        output_file=snakemake.params.product,  # noqa: F821
        save_results=True,
        processes=snakemake.threads,  # noqa: F821 (the drizzling steps' processes: the same mosaic with 1 or 2)
        **snakemake.params.parameters,  # noqa: F821
    )
