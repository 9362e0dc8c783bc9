"""Snakemake script: run one liger_iris_pipeline step on its frame(s), its log in the rule's log file."""

import contextlib

import liger_iris_pipeline

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    step = getattr(liger_iris_pipeline, snakemake.params.step)  # noqa: F821
    frame = snakemake.input.frame  # noqa: F821 (one path, or several for a step that combines frames)
    frame = frame if isinstance(frame, str) else list(frame)
    # Frames with background exposures (their association's) get them as a second input.
    backgrounds = [list(snakemake.input.background)] if "background" in snakemake.input.keys() else []  # noqa: F821
    try:
        result = step.call(frame, *backgrounds, config_file=snakemake.input.cfg, **snakemake.params.parameters)  # noqa: F821
        result.save(snakemake.output[0])  # noqa: F821
    except Exception as error:
        print(f"error: {error}", file=log)
        raise
