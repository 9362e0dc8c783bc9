"""What the steps that make reference files from exposures share: reading the members, checking that they
belong together, and describing the product so that the reference store and CRDS accept it."""

import numpy as np
import logging
from pathlib import Path


from . import __version__
from .base_step import LigerIrisStep, StepInputError, meta_value
from .reference_names import exposure_start, reference_file_name
from .variances import VARIANCE_ARRAYS


log = logging.getLogger(__name__)


class NamesReferenceOutput:
    """For steps and pipelines whose output is a reference: saved as ``reference_file_name`` (version 1) in
    the output directory unless an output file is given."""

    makes_reference = True

    def save_model(self, model, *args, **kwargs):
        if kwargs.get("output_file") or self.output_file or getattr(model, "reftype", None) is None:
            return super().save_model(model, *args, **kwargs)
        path = Path(self.output_dir or ".") / reference_file_name(model)
        self.check_output_path(path)
        model.save(path)
        log.info("Saved reference in %s", path)
        return str(path)


class ReferenceProductStep(NamesReferenceOutput, LigerIrisStep):
    """Base of the steps that combine the exposures of an association (or a list) into one reference.

    Subclasses say which metadata the members must share (``shared_meta``) and build the product.
    """

    combines_members = True
    #: Metadata paths (below ``meta``) every member must have equal to the first one's.
    shared_meta = ("instrument.name", "instrument.detector", "subarray.name")

    def open_members(self, frames):
        """The member models, checked to come from one detector setup and to share their shape (their unit is
        checked on reading: ``input_units``)."""
        models = [self.open_input(frame) for frame in self.member_inputs(frames)]
        if not models:
            raise StepInputError(f"{self.class_alias}: no exposures to combine")
        for model in models:
            self.check_member(model, models[0])
        return models

    def member_inputs(self, frames):
        return member_inputs(frames, self.class_alias)

    def check_member(self, model, first):
        """StepInputError unless ``model`` has ``first``'s shape and ``shared_meta``."""
        name = model.meta.filename
        if model.data.shape != first.data.shape:
            raise StepInputError(f"{name}: shape {model.data.shape} differs from {first.meta.filename} {first.data.shape}")
        for path in self.shared_meta:
            ours, theirs = meta_value(model, path), meta_value(first, path)
            if ours != theirs:
                keyword = model.fits_keyword(f"meta.{path}") or path
                raise StepInputError(f"{name}: {keyword} {ours!r} differs from {first.meta.filename} {theirs!r}")

    def describe_product(self, product, members, description):
        """Fill ``product``'s reference metadata from its ``members``: USEAFTER is the earliest exposure's
        start, PEDIGREE the span of the exposures' dates, and a HISTORY line names every member."""
        first = members[0]
        meta = product.meta
        meta.telescope = first.meta.telescope
        for path in ("instrument.name", "instrument.detector", "exposure.readmode"):
            _set_meta(product, path, meta_value(first, path))
        meta.subarray.instance.update(first.meta.subarray.instance)
        starts = sorted(exposure_start(model) for model in members)
        meta.useafter = starts[0]
        meta.pedigree = f"INFLIGHT {starts[0][:10]} {starts[-1][:10]}"
        meta.description = description
        meta.author = f"liger_iris_pipeline {__version__}"
        product.add_history_entry(
            f"{self.class_alias}: from {len(members)} exposures: "
            + ", ".join(str(model.meta.filename) for model in members)
        )


def member_inputs(frames, alias):
    """``frames`` if it is an iterable of exposures (files or models), else StepInputError: the input of a step
    or pipeline (``alias``) that makes one reference of several exposures."""
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__iter__"):
        raise StepInputError(f"{frames}: {alias} takes an association (or a list) of exposures")
    return frames


def member_arrays(models):
    """The SCI, ERR and DQ arrays of ``models`` stacked along a new first axis."""
    return _stacked(models, ("data", "err", "dq"))


def member_variances(models):
    """The VAR_POISSON, VAR_RNOISE and VAR_FLAT arrays of ``models`` stacked along a new first axis."""
    return _stacked(models, VARIANCE_ARRAYS)


def _stacked(models, names):
    return tuple(np.array([getattr(model, name) for model in models]) for name in names)


def _set_meta(model, path, value):
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = model.meta
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)
