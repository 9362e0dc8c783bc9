"""Nominal properties of the Liger and IRIS imagers (design.md, "Instruments")."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Imager:
    instrument: str
    telescope: str
    detector: str
    size: int  # pixels per side
    pixel_scale: float  # arcsec/pixel


IMAGERS = {
    "IRIS": Imager("IRIS", "TMT", "IMG1", 4096, 0.004),
    "LIGER": Imager("LIGER", "Keck-I", "IMG", 2048, 0.010),
}

#: Instrument names as spelled in file names (raw frames and references).
FILE_INSTRUMENT = {"IRIS": "IRIS", "LIGER": "Liger"}
