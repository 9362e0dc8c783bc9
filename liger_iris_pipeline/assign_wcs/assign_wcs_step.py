"""AssignWcsStep: attach the imaging WCS (gWCS and FITS keywords) to a frame."""

import logging
import math
import os
from collections import OrderedDict

from ..base_step import ReferenceStep, StepInputError
from ..datamodels import DistortionModel, require_meta
from ..instruments import IMAGERS
from .imager_wcs import SipApproximation, fits_wcs_keywords, imaging_gwcs, sip_keywords, window_distortion

__all__ = ["AssignWcsStep"]

log = logging.getLogger(__name__)

#: SIP fits kept for the next frames, {(reference file, size, mtime, shape, crpix, window origin, scale): fit}.
_sip_fits = OrderedDict()
#: SIP fits kept at most (a night's distortion references by detector and window).
KEPT_SIP_FITS = 16
#: The SCI header's SIP coefficient keywords start with these.
_SIP_PREFIXES = ("A_", "B_", "AP_", "BP_")


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


class AssignWcsStep(ReferenceStep):
    """The geometric distortion (``distortion`` reference), then a TAN projection centred on the pointing
    (RA_PNT, DEC_PNT at the detector centre), PA_DET and PIXSCALE.

    The gWCS goes to ``meta.wcs`` (the ASDF extension of the FITS file): detector -> ideal (the distortion) ->
    icrs. The SCI header gets the same as FITS keywords: TAN-SIP, the SIP polynomials fitted to the gWCS
    (once per distortion reference, frame shape and reference pixel: ``SipApproximation``), and SIPMXERR, the
    largest distance between the two over the frame in pixels. Without a distortion reference (N/A) the WCS
    is the TAN projection alone, which the step says: a warning, S_DISTOR = SKIPPED and R_DISTOR = N/A.

    The plate scale is PIXSCALE from the header, else the imager's nominal one. Before anything is written
    the geometry is checked: RA_PNT in [0, 360), DEC_PNT in [-90, 90], PA_DET finite, PIXSCALE (when given)
    within a factor 2 of the nominal scale; otherwise the frame is refused.
    """

    class_alias = "assign_wcs"
    spec = """
    suffix = string(default='cal')  # The frame with a WCS is the calibrated (L2b) product
    """
    reference_file_types = ["distortion"]

    def process(self, input_data):
        model = self.open_input(input_data)
        imager = IMAGERS[model.meta.instrument.name]
        check_geometry(model, imager)
        scale_deg = (model.meta.instrument.pixel_scale or imager.pixel_scale) / 3600.0
        crpix = self._reference_pixel(model, imager.size)
        crval = (model.meta.pointing.ra, model.meta.pointing.dec)
        pa = model.meta.pointing.pa

        path = self.reference_path(model, "distortion")
        with self.opened_reference(model, "distortion", DistortionModel, path=path) as reference:
            if reference is None:
                log.warning(
                    "%s: no distortion reference applies: the WCS is a TAN projection without geometric "
                    "distortion (S_DISTOR = SKIPPED)", model.meta.filename,
                )
                model.meta.wcs = imaging_gwcs(crpix, crval, scale_deg, pa, model.data.shape)
                keywords, coefficients = fits_wcs_keywords(crpix, crval, scale_deg, pa), {}
                model.meta.wcsinfo.instance.pop("sip_max_error", None)  # from an earlier run with a distortion
                model.meta.cal_step.distortion = "SKIPPED"
            else:
                distortion = window_distortion(reference.model, self._window_origin(model))
                model.meta.wcs = imaging_gwcs(crpix, crval, scale_deg, pa, model.data.shape, distortion)
                approximation = self._sip_approximation(path, distortion, crpix, scale_deg, model)
                keywords, coefficients = sip_keywords(approximation, crpix, crval, scale_deg, pa)
                model.meta.cal_step.distortion = "COMPLETE"
        for key, value in keywords.items():
            setattr(model.meta.wcsinfo, key, value)
        _set_sip_coefficients(model, coefficients)
        self.record(model, "COMPLETE")
        return model

    @staticmethod
    def _window_origin(model):
        """The 0-based detector pixel (x, y) of the frame's first pixel: a window's start, else (0, 0)."""
        sub = model.meta.subarray
        if sub.name in (None, "FULL") or None in (sub.xstart, sub.ystart):
            return 0, 0
        return sub.xstart - 1, sub.ystart - 1

    @staticmethod
    def _sip_approximation(path, distortion, crpix, scale_deg, model):
        """The SIP fit of ``distortion`` for this frame's shape and reference pixel, fitted once per reference
        file (as it is on disk), shape, reference pixel, window and scale and kept for the next frames."""
        if not isinstance(path, (str, os.PathLike)):  # a caller's model: nothing to key it on
            return SipApproximation.fit(distortion, crpix, scale_deg, model.data.shape)
        status = os.stat(path)
        key = (
            os.path.realpath(path), status.st_size, status.st_mtime_ns, model.data.shape, tuple(crpix),
            AssignWcsStep._window_origin(model), scale_deg,
        )
        if key in _sip_fits:
            _sip_fits.move_to_end(key)
        else:
            _sip_fits[key] = SipApproximation.fit(distortion, crpix, scale_deg, model.data.shape)
            log.info("%s: SIP approximation fitted, largest error %.2g pixel", os.path.basename(path), _sip_fits[key].max_error)
            while len(_sip_fits) > KEPT_SIP_FITS:
                _sip_fits.popitem(last=False)
        return _sip_fits[key]

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


def _set_sip_coefficients(model, coefficients):
    """Put the SIP ``coefficients`` ({keyword: value}) into the SCI header in place of any it had (the schema
    does not list them: stdatamodels writes them from ``extra_fits``)."""
    sci = model.extra_fits.instance.get("SCI", {}) if "extra_fits" in model.instance else {}
    kept = [card for card in sci.get("header", []) if not str(card[0]).upper().startswith(_SIP_PREFIXES)]
    cards = kept + [[key, value, ""] for key, value in coefficients.items()]
    if cards or sci:
        model.extra_fits = {**model.instance.get("extra_fits", {}), "SCI": {**sci, "header": cards}}
