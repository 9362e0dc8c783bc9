"""Liger/IRIS imager Data Reduction System: stpipe steps that turn raw frames into calibrated L2b frames."""

from importlib.metadata import PackageNotFoundError, version

from .lazy import lazy_attributes
from .registry import STEPS

try:
    __version__ = version("liger_iris_pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: Public classes (and ``batch``) and the module that defines each (the step registry's). They are imported on first
#: use (PEP 562), so a job that runs one step, or the workflow reading its config, does not pay for importing every
#: step (gwcs, astropy modeling): ``python -X importtime`` showed the package import as most of a small job's start-up.
_LAZY_CLASSES = {entry.class_name: f".{entry.module}" for entry in STEPS} | {"batch": ".base_step"}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_CLASSES)

__all__ = [*sorted(_LAZY_CLASSES, key=str.lower), "__version__"]
