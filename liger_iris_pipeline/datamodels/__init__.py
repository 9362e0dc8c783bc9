"""Data models of the Liger/IRIS imager DRS (stdatamodels, with our own YAML schemas)."""

from .. import dqflags
from .models import (
    DarkModel,
    DataModelError,
    FlatModel,
    GainModel,
    ImagerModel,
    LigerIrisDataModel,
    MaskModel,
    NonlinearityModel,
    RampModel,
    ReadnoiseModel,
    SaturationModel,
    open,
    require_meta,
)

__all__ = [
    "DarkModel",
    "DataModelError",
    "FlatModel",
    "ImagerModel",
    "LigerIrisDataModel",
    "MaskModel",
    "NonlinearityModel",
    "RampModel",
    "ReadnoiseModel",
    "SaturationModel",
    "GainModel",
    "dqflags",
    "open",
    "require_meta",
]
