"""Imaging WCS: a gnomonic (TAN) projection from pointing, position angle and plate scale.

For plate scale s (deg/pixel) and position angle PA of the detector +Y axis, east of north, the
linear part maps 0-based pixel offsets from the reference pixel to intermediate world coordinates
(xi to the east, eta to the north):

    [xi ]       [ -cos PA   sin PA ] [x - x_ref]
    [eta] = s * [  sin PA   cos PA ] [y - y_ref]

so at PA = 0 north is +Y and east is -X (the sky as seen on the detector). The FITS equivalent is
CDELT1 = -s, CDELT2 = s and PC = [[cos PA, -sin PA], [sin PA, cos PA]], i.e. CROTA2 = -PA.
"""

import numpy as np
from astropy import coordinates
from astropy import units as u
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs import wcs


def cd_matrix(pixel_scale_deg, pa_deg):
    """The 2x2 CD matrix (deg/pixel) for a plate scale and a position angle."""
    pa = np.deg2rad(pa_deg)
    return pixel_scale_deg * np.array([[-np.cos(pa), np.sin(pa)], [np.sin(pa), np.cos(pa)]])


def fits_wcs_keywords(crpix, crval, pixel_scale_deg, pa_deg):
    """FITS WCS keywords (lower-case, as in ``meta.wcsinfo``) of the TAN projection; ``crpix`` is 1-based."""
    pa = np.deg2rad(pa_deg)
    return {
        "wcsaxes": 2,
        "ctype1": "RA---TAN",
        "ctype2": "DEC--TAN",
        "cunit1": "deg",
        "cunit2": "deg",
        "crpix1": float(crpix[0]),
        "crpix2": float(crpix[1]),
        "crval1": float(crval[0]),
        "crval2": float(crval[1]),
        "cdelt1": -float(pixel_scale_deg),
        "cdelt2": float(pixel_scale_deg),
        "pc1_1": float(np.cos(pa)),
        "pc1_2": float(-np.sin(pa)),
        "pc2_1": float(np.sin(pa)),
        "pc2_2": float(np.cos(pa)),
        "radesys": "ICRS",
    }


def imaging_gwcs(crpix, crval, pixel_scale_deg, pa_deg, shape):
    """A gWCS from detector pixels (0-based x, y) to ICRS for a frame of ``shape`` (ny, nx).

    ``crpix`` is 1-based as in FITS; the transform is shift | affine | TAN | sky rotation, all analytic,
    so the inverse (world -> pixel) is exact.
    """
    offset = models.Shift(-(crpix[0] - 1), name="crpix1") & models.Shift(-(crpix[1] - 1), name="crpix2")
    linear = models.AffineTransformation2D(matrix=cd_matrix(pixel_scale_deg, pa_deg), name="cd_matrix")
    projection = models.Pix2Sky_TAN()
    rotation = models.RotateNative2Celestial(crval[0], crval[1], 180.0)
    transform = offset | linear | projection | rotation
    detector = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="icrs", unit=(u.deg, u.deg))
    frame_wcs = wcs.WCS([(detector, transform), (sky, None)])
    ny, nx = shape
    frame_wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))  # (x, y) ranges
    return frame_wcs
