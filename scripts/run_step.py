"""Snakemake script: run one liger_iris_pipeline step on its frame(s), or a pipeline on each frame of a batch in one
process; its log in the rule's log file."""

import contextlib

import liger_iris_pipeline


def run(step, frame, backgrounds, output):
    """``step`` on ``frame`` (one path, or several for a step that combines frames), with its background
    exposures if it has some (its association's), saved to ``output``."""
    background_input = [list(backgrounds)] if backgrounds else []
    result = step.call(frame, *background_input, config_file=snakemake.input.cfg, **snakemake.params.parameters)  # noqa: F821
    result.save(output)


with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    step = getattr(liger_iris_pipeline, snakemake.params.step)  # noqa: F821
    batch = getattr(snakemake.params, "batch", None)  # noqa: F821: [frame, backgrounds, output] of each frame
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
