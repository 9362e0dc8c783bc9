"""Tangent-plane corrections of an imaging gWCS, and the FITS keywords of the corrected WCS.

A frame's gWCS ends, in the transform that enters its celestial frame, with a gnomonic projection about the
tangent point (CRVAL): ``... | Pix2Sky_TAN | RotateNative2Celestial``. What comes before it (the CD matrix
today, a distortion and the CD matrix once issue 21 adds one) maps detector pixels to the tangent plane
(xi to the east, eta to the north, in deg). An alignment corrects that plane by an affine map

    (xi', eta') = M (xi, eta) + s

which goes into the gWCS as one ``AffineTransformation2D`` named ``tangent_plane_correction``, right before
the projection; a later correction is composed into it (M2 (M1 p + s1) + s2), so there is never more than one.
Every frame before the sky frame, and every transform before the projection, is left as it is.

tweakwcs fits in the tangent plane of a reference frame (``ref_tpwcs``), in arcsec. The map R from this
frame's plane to the reference plane is affine to far better than a micro-arcsecond over a frame (two
gnomonic planes of nearby tangent points), R(p) = r p + t, fitted on points spread over the frame; a
correction q' = M q + s in the reference plane is, in this frame's plane,

    p' = R^-1(M R(p) + s) = (r^-1 M r) p + r^-1 (M t + s - t).

The FITS keywords keep CRPIX (the detector centre; a SIP polynomial is defined about it), CDELT and the SIP
polynomials: CRVAL' is the corrected gWCS at CRPIX, and CD' the least-squares linear map from ideal pixel
offsets (through the gWCS's distortion, which the SIP polynomials stand for in the header; the pixels
themselves without one) to the corrected gWCS's positions projected about CRVAL', so that the header's WCS and
the gWCS agree.
"""

from copy import deepcopy
from functools import reduce

import numpy as np
from astropy.modeling import models
from gwcs import wcs as gwcs_wcs
from tweakwcs.correctors import WCSCorrector

__all__ = ["GWCSCorrector", "corrected_fits_keywords", "sky_projection"]

#: Name of the correction in the gWCS.
CORRECTION_NAME = "tangent_plane_correction"
ARCSEC_PER_DEG = 3600.0


class WCSStructureError(ValueError):
    """A gWCS whose transform into the sky does not end with a TAN projection about a tangent point."""


def _chain(transform):
    """The stages of a ``|`` chain, in order, however it is nested."""
    if getattr(transform, "op", None) == "|":
        return _chain(transform.left) + _chain(transform.right)
    return [transform]


def _split_sky_transform(transform):
    """(stages before the correction, the correction or None, projection, sky rotation) of the transform
    into the sky frame; WCSStructureError unless it ends with Pix2Sky_TAN | RotateNative2Celestial."""
    stages = _chain(transform)
    if len(stages) < 3 or not (
        isinstance(stages[-2], models.Pix2Sky_TAN) and isinstance(stages[-1], models.RotateNative2Celestial)
    ):
        raise WCSStructureError("the transform into the sky does not end with a TAN projection (Pix2Sky_TAN | RotateNative2Celestial)")
    head, projection, rotation = stages[:-2], stages[-2], stages[-1]
    correction = head.pop() if head and head[-1].name == CORRECTION_NAME else None
    if not head:
        raise WCSStructureError("the transform into the sky has no stage before its TAN projection")
    return head, correction, projection, rotation


def sky_projection(frame_wcs):
    """The tangent point (RA, Dec) in deg of ``frame_wcs`` and its correction (M, s in deg; identity when
    uncorrected)."""
    _, correction, _, rotation = _split_sky_transform(frame_wcs.pipeline[-2].transform)
    if correction is None:
        return (rotation.lon.value, rotation.lat.value), (np.eye(2), np.zeros(2))
    return (rotation.lon.value, rotation.lat.value), (correction.matrix.value, correction.translation.value)


def _with_correction(frame_wcs, matrix, shift_deg):
    """A copy of ``frame_wcs`` whose tangent plane is corrected by ``matrix`` and ``shift_deg`` after its
    existing correction."""
    pipeline = deepcopy(frame_wcs.pipeline)
    last = pipeline[-2]
    head, old, projection, rotation = _split_sky_transform(last.transform)
    if old is not None:
        shift_deg = matrix @ old.translation.value + shift_deg
        matrix = matrix @ old.matrix.value
    correction = models.AffineTransformation2D(matrix=matrix, translation=shift_deg, name=CORRECTION_NAME)
    pipeline[-2] = (last.frame, reduce(lambda a, b: a | b, [*head, correction, projection, rotation]))
    corrected = gwcs_wcs.WCS(pipeline, name=frame_wcs.name)
    if frame_wcs.pixel_bounds is not None:
        corrected.bounding_box = frame_wcs.pixel_bounds
    return corrected


class GWCSCorrector(WCSCorrector):
    """tweakwcs's view of one of our frames: its gWCS, and as tangent plane the frame's own TAN plane (its
    tangent point fixed, in arcsec), in which ``set_correction`` applies an alignment (module docstring)."""

    units = "arcsec"

    def __init__(self, wcs, meta=None):
        super().__init__(wcs, meta)
        (lon, lat), _ = sky_projection(wcs)
        self._plane_to_sky = models.Pix2Sky_TAN() | models.RotateNative2Celestial(lon, lat, 180.0)
        self._sky_to_plane = self._plane_to_sky.inverse

    def set_correction(self, matrix=((1, 0), (0, 1)), shift=(0, 0), ref_tpwcs=None, meta=None, **kwargs):
        """Compose the fitted tangent-plane ``matrix`` and ``shift`` (arcsec), given in ``ref_tpwcs``'s plane when
        it is given, into this frame's tangent-plane correction (tweakwcs's corrector interface)."""
        matrix, shift = np.asarray(matrix, dtype=float), np.asarray(shift, dtype=float)
        if ref_tpwcs is not None:
            r, t = self._plane_to(ref_tpwcs)
            r_inverse = np.linalg.inv(r)
            matrix, shift = r_inverse @ matrix @ r, r_inverse @ (matrix @ t + shift - t)
        self._wcs = _with_correction(self._wcs, matrix, shift / ARCSEC_PER_DEG)
        super().set_correction(matrix=matrix, shift=shift, meta=meta, **kwargs)

    def _plane_to(self, other):
        """(r, t): the affine map from this frame's tangent plane to ``other``'s, fitted over this frame."""
        (x_low, x_high), (y_low, y_high) = self.bounding_box
        x, y = np.meshgrid(np.linspace(x_low, x_high, 5), np.linspace(y_low, y_high, 5))
        ours = np.column_stack(self.det_to_tanp(x.ravel(), y.ravel()))
        theirs = np.column_stack(other.world_to_tanp(*self.det_to_world(x.ravel(), y.ravel())))
        design = np.column_stack([ours, np.ones(len(ours))])
        solution, *_ = np.linalg.lstsq(design, theirs, rcond=None)
        return solution[:2].T, solution[2]

    def det_to_world(self, x, y):
        return self._wcs(x, y, with_bounding_box=False)

    def world_to_det(self, ra, dec):
        return self._wcs.invert(ra, dec, with_bounding_box=False)

    def det_to_tanp(self, x, y):
        return self.world_to_tanp(*self.det_to_world(x, y))

    def tanp_to_det(self, x, y):
        return self.world_to_det(*self.tanp_to_world(x, y))

    def world_to_tanp(self, ra, dec):
        xi, eta = self._sky_to_plane(ra, dec)
        return xi * ARCSEC_PER_DEG, eta * ARCSEC_PER_DEG

    def tanp_to_world(self, x, y):
        return self._plane_to_sky(np.asarray(x) / ARCSEC_PER_DEG, np.asarray(y) / ARCSEC_PER_DEG)

    @property
    def bounding_box(self):
        return self._owcs.pixel_bounds


def _ideal_pixels(frame_wcs, x, y):
    """Pixels (x, y) through ``frame_wcs``'s distortion, into its frame ``ideal``; as they are without one."""
    if "ideal" not in frame_wcs.available_frames:
        return x, y
    return frame_wcs.get_transform("detector", "ideal")(x, y)


def corrected_fits_keywords(frame_wcs, crpix, cdelt, shape, grid=9):
    """CRVAL and PC (lower-case ``meta.wcsinfo`` names) of the TAN WCS that agrees with ``frame_wcs``, for the
    1-based ``crpix`` and the ``cdelt`` it keeps, fitted on a ``grid`` x ``grid`` of pixels over ``shape``."""
    crval = np.array(frame_wcs(crpix[0] - 1.0, crpix[1] - 1.0, with_bounding_box=False), dtype=float)
    to_plane = (models.Pix2Sky_TAN() | models.RotateNative2Celestial(crval[0], crval[1], 180.0)).inverse
    ny, nx = shape
    x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, nx - 1, grid), np.linspace(0, ny - 1, grid)))
    plane = np.column_stack(to_plane(*frame_wcs(x, y, with_bounding_box=False)))
    x_ideal, y_ideal = _ideal_pixels(frame_wcs, x, y)
    offsets = np.column_stack([x_ideal - (crpix[0] - 1.0), y_ideal - (crpix[1] - 1.0)])
    cd_transposed, *_ = np.linalg.lstsq(offsets, plane, rcond=None)
    pc = cd_transposed.T / np.asarray(cdelt, dtype=float)[:, None]
    return {
        "crval1": float(crval[0]),
        "crval2": float(crval[1]),
        "pc1_1": float(pc[0, 0]),
        "pc1_2": float(pc[0, 1]),
        "pc2_1": float(pc[1, 0]),
        "pc2_2": float(pc[1, 1]),
    }
