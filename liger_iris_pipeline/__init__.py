"""Liger/IRIS imager Data Reduction System: stpipe steps that turn raw frames into calibrated L2b frames."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liger_iris_pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .assign_wcs.assign_wcs_step import AssignWcsStep  # noqa: E402
from .background.background_step import BackgroundStep  # noqa: E402
from .combine_flats.combine_flats_step import CombineFlatsStep  # noqa: E402
from .dark_current.dark_current_step import DarkCurrentStep  # noqa: E402
from .dq_init.dq_init_step import DQInitStep  # noqa: E402
from .flat_field.flat_field_step import FlatFieldStep  # noqa: E402
from .master_dark.master_dark_step import MasterDarkStep  # noqa: E402
from .normalize.normalize_step import NormalizeStep  # noqa: E402
from .pipeline.process_flatfield_l2 import ProcessFlatfieldL2Pipeline  # noqa: E402
from .pipeline.process_imager_l2 import ProcessImagerL2Pipeline  # noqa: E402
from .subarray.merge_subarrays_step import MergeSubarraysStep  # noqa: E402
from .subarray.parse_subarray_map_step import ParseSubarrayMapStep  # noqa: E402
from .subtract_images.subtract_images_step import SubtractImagesStep  # noqa: E402
from .saturation.saturation_step import SaturationStep  # noqa: E402
from .nonlinearity.nonlinearity_step import NonlinearityStep  # noqa: E402
from .jump.jump_step import JumpStep  # noqa: E402
from .ramp_fitting.ramp_fit_step import RampFitStep  # noqa: E402
from .pipeline.detector1 import Detector1Pipeline  # noqa: E402

__all__ = [
    "AssignWcsStep",
    "BackgroundStep",
    "CombineFlatsStep",
    "DQInitStep",
    "DarkCurrentStep",
    "FlatFieldStep",
    "MasterDarkStep",
    "NormalizeStep",
    "ProcessFlatfieldL2Pipeline",
    "MergeSubarraysStep",
    "ParseSubarrayMapStep",
    "ProcessImagerL2Pipeline",
    "SubtractImagesStep",
    "SaturationStep",
    "NonlinearityStep",
    "JumpStep",
    "RampFitStep",
    "Detector1Pipeline",
    "__version__",
]
