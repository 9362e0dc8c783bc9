"""Liger/IRIS imager Data Reduction System: stpipe steps that turn raw frames into calibrated L2b frames."""

from importlib.metadata import PackageNotFoundError, version

from .lazy import lazy_attributes

try:
    __version__ = version("liger_iris_pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: Public classes and the module that defines each. They are imported on first use (PEP 562), so a job that
#: runs one step, or the workflow reading its config, does not pay for importing every step (gwcs, astropy
#: modeling): ``python -X importtime`` showed the package import as most of a small job's start-up.
_LAZY_CLASSES = {
    "AssignWcsStep": ".assign_wcs.assign_wcs_step",
    "DQInitStep": ".dq_init.dq_init_step",
    "DarkCurrentStep": ".dark_current.dark_current_step",
    "FlatFieldStep": ".flat_field.flat_field_step",
    "MergeSubarraysStep": ".subarray.merge_subarrays_step",
    "ParseSubarrayMapStep": ".subarray.parse_subarray_map_step",
    "ProcessImagerL2Pipeline": ".pipeline.process_imager_l2",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_CLASSES)

__all__ = [
    "AssignWcsStep",
    "DQInitStep",
    "DarkCurrentStep",
    "FlatFieldStep",
    "MergeSubarraysStep",
    "ParseSubarrayMapStep",
    "ProcessImagerL2Pipeline",
    "__version__",
]
