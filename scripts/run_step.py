"""Snakemake script: run one liger_iris_pipeline step on its frame(s), or a pipeline on each frame of a batch in one
process; its log in the rule's log file."""

import contextlib
import json
import os
from pathlib import Path


def selection_context(config):
    """The context of the night's reference selection (its table), under which the step asks CRDS for its
    references in the local cache: the same ones the selection chose. None before the selection has run (the
    calibration products' steps use no CRDS references)."""
    table = Path(config["output_dir"]) / "crds" / "bestrefs.json"
    return json.loads(table.read_text())["context"] if table.is_file() else None


def run(step, frame, backgrounds, output):
    """``step`` on ``frame`` (one path, or several for a step that combines frames), with its background
    exposures if it has some (its association's), saved to ``output``."""
    background_input = [list(backgrounds)] if backgrounds else []
    result = step.call(frame, *background_input, config_file=snakemake.input.cfg, **snakemake.params.parameters)  # noqa: F821
    result.save(output)


context = selection_context(snakemake.config)  # noqa: F821 (snakemake global)
if context:
    os.environ["CRDS_CONTEXT"] = context  # before crds is imported (with the first step)

import liger_iris_pipeline  # noqa: E402

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821
    step = getattr(liger_iris_pipeline, snakemake.params.step)  # noqa: F821
    batch = snakemake.params.batch  # noqa: F821: [frame, backgrounds, output] of each frame, or None
    try:
        if batch is None:
            frame = snakemake.input.frame  # noqa: F821
            backgrounds = snakemake.input.get("background", [])  # noqa: F821
            run(step, frame if isinstance(frame, str) else list(frame), backgrounds, snakemake.output[0])  # noqa: F821
        else:
            with liger_iris_pipeline.batch():  # references read once, set-up paid once
                for frame, backgrounds, output in batch:
                    run(step, frame, backgrounds, output)
    except Exception as error:
        print(f"error: {error}", file=log)
        raise
