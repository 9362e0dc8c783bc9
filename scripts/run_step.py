"""Snakemake script: run one liger_iris_pipeline step on its frame(s), or a pipeline on each frame of a batch in one
process (each good frame's product kept for the rerun when another frame fails); its log in the rule's log file,
ending with one line on failure."""

import json
import os
from functools import partial
from pathlib import Path

import liger_iris_pipeline
from liger_iris_pipeline.workflow.job import job_log
from liger_iris_pipeline.workflow.staging import Staging, job_description, run_batch


def selection_context(config):
    """The context of the night's reference selection (its table), under which the step asks CRDS for its
    references in the local cache: the same ones the selection chose. None before the selection has run (the
    calibration products' steps use no CRDS references)."""
    table = Path(config["output_dir"]) / "crds" / "bestrefs.json"
    return json.loads(table.read_text())["context"] if table.is_file() else None


def run(step, frame, backgrounds):
    """The result of ``step`` on ``frame`` (one path, or several for a step that combines frames), with its
    background exposures if it has some (its association's)."""
    background_input = [list(backgrounds)] if backgrounds else []
    return step.call(frame, *background_input, config_file=snakemake.input.cfg, **snakemake.params.parameters)  # noqa: F821


context = selection_context(snakemake.config)  # noqa: F821 (snakemake global)
if context:
    os.environ["CRDS_CONTEXT"] = context  # before crds is imported (with the first step)

with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    step = getattr(liger_iris_pipeline, snakemake.params.step)  # noqa: F821
    batch = snakemake.params.batch  # noqa: F821: [frame, backgrounds, output] of each frame, or None
    if batch is None:
        frame = snakemake.input.frame  # noqa: F821
        backgrounds = snakemake.input.get("background", [])  # noqa: F821
        run(step, frame if isinstance(frame, str) else list(frame), backgrounds).save(snakemake.output[0])  # noqa: F821
    else:
        inputs = snakemake.input  # noqa: F821
        description = job_description(
            snakemake.params.step,  # noqa: F821
            snakemake.params.parameters,  # noqa: F821
            [inputs.cfg, *inputs.get("step_cfgs", [])],
            inputs.get("references", []),
            context,
        )
        staging = Staging(snakemake.config["output_dir"], description)  # noqa: F821
        with liger_iris_pipeline.batch():  # references read once, set-up paid once
            run_batch(batch, partial(run, step), staging, log)
