"""Liger/IRIS imager Data Reduction System: stpipe steps that turn raw frames into calibrated L2b frames."""

from importlib.metadata import PackageNotFoundError, version

from .lazy import lazy_attributes

try:
    __version__ = version("liger_iris_pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: Public classes (and ``batch``) and the module that defines each. They are imported on first use (PEP 562), so a job that
#: runs one step, or the workflow reading its config, does not pay for importing every step (gwcs, astropy
#: modeling): ``python -X importtime`` showed the package import as most of a small job's start-up.
_LAZY_CLASSES = {
    "AssignWcsStep": ".assign_wcs.assign_wcs_step",
    "BackgroundStep": ".background.background_step",
    "CombineFlatsStep": ".combine_flats.combine_flats_step",
    "DarkCurrentStep": ".dark_current.dark_current_step",
    "Detector1Pipeline": ".pipeline.detector1",
    "DQInitStep": ".dq_init.dq_init_step",
    "FlatFieldStep": ".flat_field.flat_field_step",
    "JumpStep": ".jump.jump_step",
    "MasterDarkStep": ".master_dark.master_dark_step",
    "MergeSubarraysStep": ".subarray.merge_subarrays_step",
    "NonlinearityStep": ".nonlinearity.nonlinearity_step",
    "NormalizeStep": ".normalize.normalize_step",
    "ParseSubarrayMapStep": ".subarray.parse_subarray_map_step",
    "ProcessFlatfieldL2Pipeline": ".pipeline.process_flatfield_l2",
    "ProcessImagerL2Pipeline": ".pipeline.process_imager_l2",
    "RampFitStep": ".ramp_fitting.ramp_fit_step",
    "SaturationStep": ".saturation.saturation_step",
    "SubtractImagesStep": ".subtract_images.subtract_images_step",
    "batch": ".base_step",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_CLASSES)

__all__ = [*sorted(_LAZY_CLASSES, key=str.lower), "__version__"]
