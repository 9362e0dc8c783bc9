"""Nominal properties of the Liger and IRIS imagers (design.md, "Instruments")."""

from dataclasses import dataclass


#: A header's plate scale (PIXSCALE) is plausible within this factor of the imager's nominal one: room for a
#: re-measured scale, none for a unit mix-up (mas or degrees for arcsec) or another instrument's scale.
PIXEL_SCALE_TOLERANCE = 2.0


@dataclass(frozen=True)
class Imager:
    instrument: str
    telescope: str
    detector: str  # the first (or only) detector
    size: int  # pixels per side
    pixel_scale: float  # arcsec/pixel
    #: Every detector of the imager (IRIS: a 2 x 2 mosaic, simulator/dither.py has the layout and its source).
    detectors: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.detectors:
            object.__setattr__(self, "detectors", (self.detector,))

    @property
    def plausible_pixel_scales(self):
        """(lowest, highest) plate scale in arcsec/pixel a frame of this imager may give."""
        return self.pixel_scale / PIXEL_SCALE_TOLERANCE, self.pixel_scale * PIXEL_SCALE_TOLERANCE


IMAGERS = {
    "IRIS": Imager("IRIS", "TMT", "IMG1", 4096, 0.004, ("IMG1", "IMG2", "IMG3", "IMG4")),
    "LIGER": Imager("LIGER", "Keck-I", "IMG", 2048, 0.010),
}

#: Instrument names as spelled in file names (raw frames and references).
FILE_INSTRUMENT = {"IRIS": "IRIS", "LIGER": "Liger"}
