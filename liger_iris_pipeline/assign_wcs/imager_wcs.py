"""Imaging WCS: a gnomonic (TAN) projection from pointing, position angle and plate scale.

For plate scale s (deg/pixel) and position angle PA of the detector +Y axis, east of north, the
linear part maps 0-based pixel offsets from the reference pixel to intermediate world coordinates
(xi to the east, eta to the north):

    [xi ]       [ -cos PA   sin PA ] [x - x_ref]
    [eta] = s * [  sin PA   cos PA ] [y - y_ref]

so at PA = 0 north is +Y and east is -X (the sky as seen on the detector). The FITS equivalent is
CDELT1 = -s, CDELT2 = s and PC = [[cos PA, -sin PA], [sin PA, cos PA]], i.e. CROTA2 = -PA.

With a geometric distortion D (a ``distortion`` reference: detector pixels of the whole detector to ideal
pixels of the same scale, fixed at the detector centre), the pixels (x, y) above are the ideal ones,
(x, y) = D(x_det, y_det), and the gWCS has three frames: detector -> ideal -> icrs. A window of the detector
whose first pixel is (x0, y0) (0-based) sees D(x + x0, y + y0) - (x0, y0).

The FITS keywords then approximate the gWCS by SIP polynomials about CRPIX (u, v = pixel - CRPIX):

    (x, y) - CRPIX = (u + A(u, v), v + B(u, v)),   [xi, eta] = CD [u + A, v + B]

A and B depend on D and CRPIX only, and CD on the position angle as CD(PA) = cd(PA) cd(0)^-1 CD(0), with
cd(PA) the matrix above and CD(0) the one fitted at PA 0 (which carries any linear part of D). So the fit
(gwcs ``to_fits_sip``, ~0.1 s) is made once on a gWCS at tangent point (0, 0) and PA 0 (``SipApproximation``)
and turned to each frame's position angle (``sip_keywords``).
"""

from dataclasses import dataclass

import numpy as np
from astropy import coordinates
from astropy import units as u
from astropy.modeling import models
from astropy.wcs import WCS as FitsWCS
from gwcs import coordinate_frames as cf
from gwcs import wcs

#: Largest error of the SIP approximation the fit aims at, forward (pixels), and of its inverse (AP, BP).
SIP_MAX_PIX_ERROR = 1e-4
SIP_MAX_INVERSE_PIX_ERROR = 0.01
#: Degrees the SIP fit may use (gwcs finds floating-point trouble above about 7), and its grid of points.
SIP_DEGREES = range(1, 8)
SIP_INVERSE_DEGREES = range(1, 10)
SIP_FIT_POINTS = 32
#: The grid (points per side) on which the SIP approximation's largest error is measured, edges included.
SIP_CHECK_POINTS = 129


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


def imaging_gwcs(crpix, crval, pixel_scale_deg, pa_deg, shape, distortion=None):
    """A gWCS from detector pixels (0-based x, y) to ICRS for a frame of ``shape`` (ny, nx).

    ``crpix`` is 1-based as in FITS; the transform is shift | affine | TAN | sky rotation, all analytic,
    so the inverse (world -> pixel) is exact. With ``distortion`` (this frame's pixels to ideal pixels,
    ``window_distortion``) it comes first, into the frame ``ideal``; its inverse is the model's own.
    """
    offset = models.Shift(-(crpix[0] - 1), name="crpix1") & models.Shift(-(crpix[1] - 1), name="crpix2")
    linear = models.AffineTransformation2D(matrix=cd_matrix(pixel_scale_deg, pa_deg), name="cd_matrix")
    projection = models.Pix2Sky_TAN()
    rotation = models.RotateNative2Celestial(crval[0], crval[1], 180.0)
    transform = offset | linear | projection | rotation
    detector = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="icrs", unit=(u.deg, u.deg))
    if distortion is None:
        pipeline = [(detector, transform), (sky, None)]
    else:
        ideal = cf.Frame2D(name="ideal", axes_names=("x", "y"), unit=(u.pix, u.pix))
        pipeline = [(detector, distortion), (ideal, transform), (sky, None)]
    frame_wcs = wcs.WCS(pipeline)
    ny, nx = shape
    frame_wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))  # (x, y) ranges
    return frame_wcs


def window_distortion(detector_distortion, window_origin):
    """The distortion in the pixels of a window whose first pixel is ``window_origin`` (0-based x0, y0) on the
    detector: (x, y) -> D(x + x0, y + y0) - (x0, y0); the whole detector's (origin (0, 0)) as it is."""
    x0, y0 = window_origin
    if (x0, y0) == (0, 0):
        return detector_distortion
    return (
        (models.Shift(x0) & models.Shift(y0))
        | detector_distortion
        | (models.Shift(-x0) & models.Shift(-y0))
    )


@dataclass(frozen=True)
class SipApproximation:
    """SIP keywords of a distortion about CRPIX (``A_ORDER``, ``A_i_j``, ``B_i_j``, ``AP_i_j``, ``BP_i_j``...), the
    CD matrix fitted at PA 0, and the largest error of the approximation over the frame (pixels, measured with
    astropy.wcs)."""

    coefficients: dict
    cd_at_zero_pa: np.ndarray
    max_error: float

    @classmethod
    def fit(cls, distortion, crpix, pixel_scale_deg, shape):
        """Fit the SIP approximation of ``distortion`` (this frame's pixels to ideal ones) about 1-based
        ``crpix`` over a frame of ``shape`` with gwcs's ``to_fits_sip``, to ``SIP_MAX_PIX_ERROR`` if a degree
        of ``SIP_DEGREES`` reaches it, else at the highest degree (its error then says so)."""
        frame_wcs = imaging_gwcs(crpix, (0.0, 0.0), pixel_scale_deg, 0.0, shape, distortion)
        ny, nx = shape
        options = {"bounding_box": ((-0.5, nx - 0.5), (-0.5, ny - 0.5)), "npoints": SIP_FIT_POINTS, "crpix": tuple(crpix)}
        try:
            header = frame_wcs.to_fits_sip(
                max_pix_error=SIP_MAX_PIX_ERROR, degree=SIP_DEGREES, max_inv_pix_error=SIP_MAX_INVERSE_PIX_ERROR,
                inv_degree=SIP_INVERSE_DEGREES, **options,
            )
        except ValueError:  # no degree reaches the accuracy
            header = frame_wcs.to_fits_sip(degree=SIP_DEGREES[-1], inv_degree=SIP_INVERSE_DEGREES[-1], **options)
        coefficients = {
            key: header[key] for key in header if key.split("_")[0] in ("A", "B", "AP", "BP") and "_" in key
        }
        cd = np.array([[header.get(f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)])
        return cls(coefficients, cd, _largest_error(frame_wcs, header, pixel_scale_deg, shape))


def _largest_error(frame_wcs, header, pixel_scale_deg, shape):
    """The largest distance (pixels) between ``frame_wcs`` and the FITS ``header`` as astropy.wcs reads it, on a
    ``SIP_CHECK_POINTS`` grid over the frame's pixels, edges included."""
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(-0.5, nx - 0.5, SIP_CHECK_POINTS), np.linspace(-0.5, ny - 0.5, SIP_CHECK_POINTS))
    ra, dec = frame_wcs(x, y, with_bounding_box=False)
    ra_fits, dec_fits = FitsWCS(header).all_pix2world(x, y, 0)
    east = (ra_fits - ra + 180.0) % 360.0 - 180.0
    return float(np.hypot(east * np.cos(np.deg2rad(dec)), dec_fits - dec).max() / pixel_scale_deg)


def sip_keywords(approximation, crpix, crval, pixel_scale_deg, pa_deg):
    """(``meta.wcsinfo`` keywords, the SIP coefficient keywords) of a frame: ``fits_wcs_keywords`` as TAN-SIP,
    its PC the fitted CD matrix turned to ``pa_deg`` (CD = cd(PA) cd(0)^-1 CD_0, see the module docstring)."""
    cd = cd_matrix(pixel_scale_deg, pa_deg) @ np.linalg.inv(cd_matrix(pixel_scale_deg, 0.0)) @ approximation.cd_at_zero_pa
    keywords = fits_wcs_keywords(crpix, crval, pixel_scale_deg, pa_deg)
    cdelt = np.array([keywords["cdelt1"], keywords["cdelt2"]])
    pc = cd / cdelt[:, None]
    keywords.update(
        ctype1="RA---TAN-SIP",
        ctype2="DEC--TAN-SIP",
        pc1_1=float(pc[0, 0]),
        pc1_2=float(pc[0, 1]),
        pc2_1=float(pc[1, 0]),
        pc2_2=float(pc[1, 1]),
        sip_max_error=approximation.max_error,
    )
    return keywords, dict(approximation.coefficients)
