"""Data models of the Liger/IRIS imager DRS (stdatamodels, with our own YAML schemas)."""

from .. import dqflags
from .models import (
    DarkModel,
    DistortionModel,
    FlatModel,
    GainModel,
    ImagerModel,
    LigerIrisDataModel,
    MaskModel,
    MosaicModel,
    NonlinearityModel,
    RampModel,
    ReadnoiseModel,
    SaturationModel,
    VARIANCE_ARRAYS,
    open,
    reference_identity,
)
from .validation import DataModelError, require_meta

__all__ = [
    "DarkModel",
    "DataModelError",
    "DistortionModel",
    "FlatModel",
    "ImagerModel",
    "LigerIrisDataModel",
    "MaskModel",
    "MosaicModel",
    "NonlinearityModel",
    "RampModel",
    "ReadnoiseModel",
    "SaturationModel",
    "VARIANCE_ARRAYS",
    "GainModel",
    "dqflags",
    "open",
    "reference_identity",
    "require_meta",
]
