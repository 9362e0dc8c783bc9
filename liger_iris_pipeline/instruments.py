"""Nominal properties of the Liger and IRIS imagers (design.md, "Instruments")."""

import math
from dataclasses import dataclass


#: A header's plate scale (PIXSCALE) is plausible within this factor of the imager's nominal one: room for a
#: re-measured scale, none for a unit mix-up (mas or degrees for arcsec) or another instrument's scale.
PIXEL_SCALE_TOLERANCE = 2.0


@dataclass(frozen=True)
class Imager:
    instrument: str
    telescope: str
    detector: str
    size: int  # pixels per side
    pixel_scale: float  # arcsec/pixel
    aperture_m: float  # telescope diameter

    def diffraction_fwhm_pixels(self, filter_name, pixel_scale=None):
        """FWHM of the diffraction-limited PSF, 1.03 lambda / D, in pixels of ``pixel_scale`` (arcsec/pixel,
        the nominal one by default) at the central wavelength of ``filter_name`` (K for an unknown filter)."""
        wavelength_m = FILTER_WAVELENGTH_UM.get(filter_name, FILTER_WAVELENGTH_UM["K"]) * 1e-6
        fwhm_arcsec = math.degrees(1.03 * wavelength_m / self.aperture_m) * 3600.0
        return fwhm_arcsec / (pixel_scale or self.pixel_scale)

    @property
    def plausible_pixel_scales(self):
        """(lowest, highest) plate scale in arcsec/pixel a frame of this imager may give."""
        return self.pixel_scale / PIXEL_SCALE_TOLERANCE, self.pixel_scale * PIXEL_SCALE_TOLERANCE


IMAGERS = {
    "IRIS": Imager("IRIS", "TMT", "IMG1", 4096, 0.004, 30.0),
    "LIGER": Imager("LIGER", "Keck-I", "IMG", 2048, 0.010, 10.0),
}

#: Central wavelengths (micron) of the broad near-infrared bands.
FILTER_WAVELENGTH_UM = {"Z": 0.88, "Y": 1.02, "J": 1.25, "H": 1.63, "K": 2.19, "Ks": 2.15, "Kp": 2.12}

#: Instrument names as spelled in file names (raw frames and references).
FILE_INSTRUMENT = {"IRIS": "IRIS", "LIGER": "Liger"}
