"""AssignWcsStep: attach the imaging WCS (gWCS and FITS keywords) to a frame."""

import math

from ..base_step import LigerIrisStep, StepInputError
from ..datamodels import require_meta
from ..instruments import IMAGERS
from .imager_wcs import fits_wcs_keywords, imaging_gwcs

__all__ = ["AssignWcsStep"]


def check_geometry(model, imager):
    """StepInputError naming the frame unless its pointing, position angle and plate scale can make a WCS:
    a missing keyword (PIXSCALE may be left out: the nominal scale) or a value off the sky, not finite or
    implausible for ``imager``."""
    require_meta(model, ("pointing.ra", "pointing.dec", "pointing.pa"))
    pointing = model.meta.pointing
    low, high = imager.plausible_pixel_scales
    checks = [
        ("RA_PNT", pointing.ra, lambda ra: 0 <= ra < 360, "in [0, 360) deg"),
        ("DEC_PNT", pointing.dec, lambda dec: -90 <= dec <= 90, "in [-90, 90] deg"),
        ("PA_DET", pointing.pa, lambda pa: True, "finite"),
    ]
    if model.meta.instrument.pixel_scale is not None:
        checks.append(
            (
                "PIXSCALE",
                model.meta.instrument.pixel_scale,
                lambda scale: low <= scale <= high,
                f"a plausible {imager.instrument} plate scale ({low:g} to {high:g} arcsec/pixel)",
            )
        )
    for keyword, value, plausible, expected in checks:
        if not (math.isfinite(value) and plausible(value)):
            raise StepInputError(f"{model.meta.filename}: {keyword} {value!r} is not {expected}")


class AssignWcsStep(LigerIrisStep):
    """TAN projection centred on the pointing (RA_PNT, DEC_PNT at the detector centre), PA_DET and PIXSCALE.

    The gWCS goes to ``meta.wcs`` (the ASDF extension of the FITS file) and the same projection to the
    SCI header's FITS WCS keywords. The plate scale is PIXSCALE from the header, else the imager's nominal one.
    Before anything is written the geometry is checked: RA_PNT in [0, 360), DEC_PNT in [-90, 90], PA_DET
    finite, PIXSCALE (when given) within a factor 2 of the nominal scale; otherwise the frame is refused.
    """

    class_alias = "assign_wcs"
    spec = """
    suffix = string(default='cal')  # The frame with a WCS is the calibrated (L2b) product
    """

    def process(self, input_data):
        model = self.open_input(input_data)
        imager = IMAGERS[model.meta.instrument.name]
        check_geometry(model, imager)
        scale_deg = (model.meta.instrument.pixel_scale or imager.pixel_scale) / 3600.0
        crpix = self._reference_pixel(model, imager.size)
        crval = (model.meta.pointing.ra, model.meta.pointing.dec)
        pa = model.meta.pointing.pa

        model.meta.wcs = imaging_gwcs(crpix, crval, scale_deg, pa, model.data.shape)
        for key, value in fits_wcs_keywords(crpix, crval, scale_deg, pa).items():
            setattr(model.meta.wcsinfo, key, value)
        self.record(model, "COMPLETE")
        return model

    @staticmethod
    def _reference_pixel(model, nominal_detector_size):
        """1-based (x, y) of the detector centre in this frame's pixels (a subarray's window moves it).

        A frame without a window, or with SUBARRAY = FULL, is the whole detector, whatever its size. A window's
        detector is DETXSIZE x DETYSIZE when the frame gives them (a simulated detector may be smaller than the
        real one), else the imager's nominal size, so the window's pixels land on the sky where the same
        detector pixels of the full frame do.
        """
        sub = model.meta.subarray
        if sub.name in (None, "FULL") or None in (sub.xstart, sub.ystart):
            ny, nx = model.data.shape
            return (nx + 1) / 2.0, (ny + 1) / 2.0
        detector_nx = sub.detxsize or nominal_detector_size
        detector_ny = sub.detysize or nominal_detector_size
        return (detector_nx + 1) / 2.0 - (sub.xstart - 1), (detector_ny + 1) / 2.0 - (sub.ystart - 1)
