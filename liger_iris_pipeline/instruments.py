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

#: Primary mirror diameter of each telescope [m].
TELESCOPE_DIAMETER_M = {"TMT": 30.0, "Keck-I": 10.0}
#: Central wavelength of the broad-band filters [micron] (MKO system; Ks as MKO's).
FILTER_WAVELENGTH_UM = {"Z": 0.88, "Y": 1.03, "J": 1.25, "H": 1.63, "K": 2.20, "Ks": 2.15}
#: FWHM of an Airy core (unobstructed circular aperture) in units of lambda / D.
AIRY_FWHM_PER_LAMBDA_OVER_D = 1.028
ARCSEC_PER_RADIAN = 206264.806


def diffraction_fwhm_arcsec(instrument, filter_name):
    """FWHM [arcsec] of the diffraction-limited PSF of ``instrument``'s telescope in a broad-band filter,
    1.028 lambda / D; None for a filter not in FILTER_WAVELENGTH_UM (narrow bands: give the FWHM yourself)."""
    wavelength = FILTER_WAVELENGTH_UM.get(filter_name)
    imager = IMAGERS.get(str(instrument).upper())
    if wavelength is None or imager is None:
        return None
    diameter = TELESCOPE_DIAMETER_M[imager.telescope]
    return AIRY_FWHM_PER_LAMBDA_OVER_D * wavelength * 1e-6 / diameter * ARCSEC_PER_RADIAN
