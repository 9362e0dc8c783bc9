"""The one list of the package's steps and pipelines.

The package's lazy names (``liger_iris_pipeline.DQInitStep``), the ``stpipe.steps`` entry point (``tmtrun``
aliases), the shipped parameter files (``.cfg`` and the ``.asdf`` written from it), the documentation's step
pages and the Snakemake workflow all read this table; a new step is registered here once. It imports nothing,
so reading it costs nothing.
"""

from dataclasses import dataclass
from pathlib import Path

_PACKAGE = Path(__file__).parent


@dataclass(frozen=True)
class StepEntry:
    """A step or pipeline: its ``tmtrun`` alias, class, defining module and the reference types it asks CRDS for."""

    alias: str
    class_name: str
    #: Module that defines the class, relative to the package (``dq_init.dq_init_step``).
    module: str
    is_pipeline: bool = False
    reftypes: tuple = ()

    @property
    def module_name(self):
        """Absolute name of the defining module."""
        return f"{__package__}.{self.module}"

    @property
    def cfg(self):
        """The shipped INI parameter file (``<step folder>/<alias>.cfg``), the source of truth of its parameters."""
        return _PACKAGE / self.module.split(".")[0] / f"{self.alias}.cfg"

    @property
    def asdf(self):
        """The shipped ASDF parameter file beside the ``.cfg``, written from it (``parameter_files.py``)."""
        return self.cfg.with_suffix(".asdf")


STEPS = (
    StepEntry("dq_init", "DQInitStep", "dq_init.dq_init_step", reftypes=("mask",)),
    StepEntry("dark_current", "DarkCurrentStep", "dark_current.dark_current_step", reftypes=("dark",)),
    StepEntry("flat_field", "FlatFieldStep", "flat_field.flat_field_step", reftypes=("flat",)),
    StepEntry("assign_wcs", "AssignWcsStep", "assign_wcs.assign_wcs_step", reftypes=("distortion",)),
    StepEntry("parse_subarray_map", "ParseSubarrayMapStep", "subarray.parse_subarray_map_step"),
    StepEntry("merge_subarrays", "MergeSubarraysStep", "subarray.merge_subarrays_step"),
    StepEntry(
        "process_imager_l2",
        "ProcessImagerL2Pipeline",
        "pipeline.process_imager_l2",
        is_pipeline=True,
        reftypes=("mask", "dark", "flat", "distortion"),
    ),
    StepEntry("master_dark", "MasterDarkStep", "master_dark.master_dark_step"),
    StepEntry("normalize", "NormalizeStep", "normalize.normalize_step"),
    StepEntry("combine_flats", "CombineFlatsStep", "combine_flats.combine_flats_step"),
    StepEntry(
        "process_flatfield_l2",
        "ProcessFlatfieldL2Pipeline",
        "pipeline.process_flatfield_l2",
        is_pipeline=True,
        reftypes=("dark",),
    ),
    StepEntry("distortion_solution", "DistortionSolutionStep", "distortion_solution.distortion_solution_step"),
    StepEntry(
        "process_distortion_l2",
        "ProcessDistortionL2Pipeline",
        "pipeline.process_distortion_l2",
        is_pipeline=True,
        reftypes=("dark", "flat"),
    ),
    StepEntry("subtract_images", "SubtractImagesStep", "subtract_images.subtract_images_step"),
    StepEntry("background", "BackgroundStep", "background.background_step"),
    StepEntry("saturation", "SaturationStep", "saturation.saturation_step", reftypes=("saturation",)),
    StepEntry("nonlinearity", "NonlinearityStep", "nonlinearity.nonlinearity_step", reftypes=("nonlinearity",)),
    StepEntry("jump", "JumpStep", "jump.jump_step", reftypes=("gain", "readnoise")),
    StepEntry("ramp_fit", "RampFitStep", "ramp_fitting.ramp_fit_step", reftypes=("gain", "readnoise")),
    StepEntry(
        "detector1",
        "Detector1Pipeline",
        "pipeline.detector1",
        is_pipeline=True,
        reftypes=("mask", "saturation", "nonlinearity", "gain", "readnoise"),
    ),
    StepEntry("tweakreg", "TweakRegStep", "tweakreg.tweakreg_step"),
    StepEntry("skymatch", "SkyMatchStep", "skymatch.skymatch_step"),
    StepEntry("outlier_detection", "OutlierDetectionStep", "outlier_detection.outlier_detection_step"),
    StepEntry("resample", "ResampleStep", "resample.resample_step"),
    StepEntry("source_catalog", "SourceCatalogStep", "source_catalog.source_catalog_step"),
    StepEntry("image3", "Image3Pipeline", "pipeline.image3", is_pipeline=True),
)

#: The entries by alias.
BY_ALIAS = {entry.alias: entry for entry in STEPS}
#: The entries by class name.
BY_CLASS = {entry.class_name: entry for entry in STEPS}
