"""AssignWcsStep: attach the imaging WCS (gWCS and FITS keywords) to a frame."""

from ..base_step import LigerIrisStep
from ..datamodels import require_meta
from ..instruments import IMAGERS
from .imager_wcs import fits_wcs_keywords, imaging_gwcs

__all__ = ["AssignWcsStep"]


class AssignWcsStep(LigerIrisStep):
    """TAN projection centred on the pointing (RA_PNT, DEC_PNT at the detector centre), PA_DET and PIXSCALE.

    The gWCS goes to ``meta.wcs`` (the ASDF extension of the FITS file) and the same projection to the
    SCI header's FITS WCS keywords. The plate scale is PIXSCALE from the header, else the imager's nominal one.
    """

    class_alias = "assign_wcs"
    spec = """
    suffix = string(default='cal')  # The frame with a WCS is the calibrated (L2b) product
    """

    def process(self, input_data):
        model = self.open_input(input_data)
        require_meta(model, ("pointing.ra", "pointing.dec", "pointing.pa"))
        imager = IMAGERS[model.meta.instrument.name]
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
