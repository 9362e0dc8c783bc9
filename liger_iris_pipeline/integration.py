"""stpipe entry point: the steps and pipelines ``tmtrun``/``strun`` know by alias (the step registry)."""

from .registry import STEPS


def get_steps():
    return [(f"liger_iris_pipeline.{entry.class_name}", entry.alias, entry.is_pipeline) for entry in STEPS]
