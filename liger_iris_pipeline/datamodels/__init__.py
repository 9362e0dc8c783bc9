"""Data models of the Liger/IRIS imager DRS (stdatamodels, with our own YAML schemas)."""

from .. import dqflags
from .models import (
    DarkModel,
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
)
from .validation import DataModelError, require_meta

__all__ = [
    "DarkModel",
    "DataModelError",
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
    "require_meta",
]
