"""Drizzle calibrated frames onto one sky grid (plain numpy, drizzle 3 and gwcs; no data models).

Output grid: a TAN projection of the given pixel scale s_out and position angle (of +Y, east of north) about a
reference direction (by default the centre of the first frame's central pixel, so that a frame resampled at its own scale and
orientation keeps its pixel grid), just large enough to hold every footprint (the edges of each frame's
bounding box mapped through its gWCS).

Pixel map: each input pixel's centre mapped through the frame's gWCS forward transform and the output gWCS
inverse, so any frame WCS (a distortion included) is used as it is. When both gWCS are linear maps of the
pixels into a TAN plane (``Shift``, ``Scale``, ``Rotation2D``, ``AffineTransformation2D``, then
``Pix2Sky_TAN | RotateNative2Celestial``), the map is a projective one (a gnomonic projection seen from another
tangent point is a central projection of a plane onto a plane),

    (x_out, y_out) = (X / W, Y / W),   (X, Y, W) = H (x_in, y_in, 1),

with H fitted on a grid of points mapped through the gWCS and accepted only if it reproduces the gWCS at the
points between them to ``PROJECTIVE_TOLERANCE`` (the gWCS's own float64 rounding is ~1e-7 pixel); it is then evaluated directly (drizzle's ``calc_pixmap`` evaluates
the gWCS at every pixel, ~100x slower), with the pixel area of the next paragraph exact: A = abs(det H) / abs(W)**3.

Units: frames are in DN/s per input pixel; the mosaic is in DN/s per *output* pixel, so that the sum of the
mosaic over a source is its DN/s, whatever the output scale (flux conserving). Drizzle averages surface
brightness, so each input pixel is first divided by its area in output pixels,

    A = |det d(x_out, y_out) / d(x_in, y_in)|   (the Jacobian of the pixel map, per pixel),
    d = (SCI - background) / A,   v_k = VAR_k / A**2.

Weights w (per input pixel, 0 for pixels excluded by DQ or without finite values): ``ivm`` w = 1 / VAR_RNOISE
(jwst's choice: the read noise does not depend on the signal, so bright pixels are not down-weighted), or
``exptime`` w = EXPTIME. With a_io the overlap of input pixel i's drop with output pixel o (kernel, pixfrac),

    SCI_o   = sum_i a_io w_i d_i / sum_i a_io w_i,          WHT_o = sum_i a_io w_i,
    VAR_k,o = sum_i (a_io w_i)**2 v_k,i / (sum_i a_io w_i)**2   (drizzle's squared-weight sums),
    ERR_o   = sqrt(VAR_POISSON_o + VAR_RNOISE_o + VAR_FLAT_o).

VAR_k,o is the exact variance of each output pixel taken alone; neighbouring output pixels share input
pixels (with pixfrac 1 and the square kernel), so their noise is correlated and a sum over an aperture has a
larger variance than the sum of the VAR of its pixels (Fruchter & Hook 2002, Casertano et al. 2000).
"""

from typing import NamedTuple

import numba
import numpy as np
from astropy.modeling import models
from astropy.nddata.bitmask import bitfield_to_boolean_mask
from drizzle.resample import Drizzle
from drizzle.utils import calc_pixmap

from ..assign_wcs.imager_wcs import fits_wcs_keywords, imaging_gwcs
from ..dqflags import pixel as dq_flags
from ..forked import ForkPool, SlotArrays, shared_array

__all__ = [
    "KERNELS",
    "DrizzleOutput",
    "MosaicGrid",
    "MosaicDrizzle",
    "PreparedFrame",
    "footprint",
    "frame_centre",
    "good_pixels",
    "mosaic_grid",
    "pixel_area",
    "pixel_map",
    "pixel_scale",
    "input_weights",
    "prepare_frame",
    "projective_matrix",
]

#: The drizzle kernels (the gaussian and lanczos ones do not conserve flux).
KERNELS = ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3")
#: The kernels drizzle sizes by the pixel scale ratio (square and point drops do not depend on it).
SCALED_KERNELS = ("gaussian", "turbo", "lanczos2", "lanczos3")
#: Drizzles a mosaic is made of (even and odd frames), combined at the end: two processes can make them at once.
PARTIAL_DRIZZLES = 2
#: Frames per plane of drizzle's context image (bits of an int32).
CONTEXT_BITS = 32
#: Points per edge of a frame at which its footprint on the sky is sampled (a distorted edge is not straight).
FOOTPRINT_POINTS_PER_EDGE = 16
#: Output pixels by which a footprint may overhang the grid (rounding of the WCS transforms).
EDGE_TOLERANCE = 1e-6
#: Largest difference (output pixels) between the projective pixel map and the gWCS at its check points.
PROJECTIVE_TOLERANCE = 1e-6
#: Points per axis at which the projective map is fitted (and, between them, checked).
PROJECTIVE_POINTS = 5
#: Models that map a plane linearly (pixels to pixels, or to the tangent plane), and the TAN ends of a transform.
LINEAR_MODELS = (models.Shift, models.Scale, models.Multiply, models.Identity, models.Rotation2D, models.AffineTransformation2D)
TAN_MODELS = (models.Pix2Sky_TAN, models.RotateNative2Celestial)


def good_pixels(dq, good_bits):
    """Boolean map of the pixels ``good_bits`` lets through (jwst's semantics: bits listed are ignored, ``~``
    inverts, so "~DO_NOT_USE+NON_SCIENCE" excludes exactly the pixels with either flag)."""
    return bitfield_to_boolean_mask(dq, good_bits, good_mask_value=True, dtype=bool, flag_name_map=dq_flags)


def input_weights(good, var_rnoise, exposure_time, weight_type, arrays=None):
    """Per-pixel drizzle weights (float32): 1 / VAR_RNOISE (``ivm``) or EXPTIME (``exptime``) where ``good``,
    0 elsewhere and wherever VAR_RNOISE is not a positive finite number (``ivm``). ``arrays`` (name, shape,
    dtype) -> array gives the array to fill (``SlotArrays.of``; default: a new one)."""
    weights = _array(arrays, "weights", var_rnoise.shape, np.float32)
    if weight_type == "ivm":
        usable = good & np.isfinite(var_rnoise) & (var_rnoise > 0)
        weights.fill(0.0)
        np.divide(1.0, var_rnoise, out=weights, where=usable)
        return weights
    if weight_type == "exptime":
        np.multiply(good, np.float32(exposure_time), out=weights)
        return weights
    raise ValueError(f"weight_type must be 'ivm' or 'exptime', got {weight_type!r}")


def _array(arrays, name, shape, dtype):
    """The array ``arrays`` keeps under ``name`` (``SlotArrays.of``), or a new one when ``arrays`` is None."""
    return np.empty(shape, dtype) if arrays is None else arrays(name, shape, dtype)


def footprint(wcs, shape):
    """(ra, dec) in degrees of points along the outer edges of a frame of ``shape`` (ny, nx)."""
    ny, nx = shape
    along_x = np.linspace(-0.5, nx - 0.5, FOOTPRINT_POINTS_PER_EDGE)
    along_y = np.linspace(-0.5, ny - 0.5, FOOTPRINT_POINTS_PER_EDGE)
    x = np.concatenate([along_x, along_x, np.full_like(along_y, -0.5), np.full_like(along_y, nx - 0.5)])
    y = np.concatenate([np.full_like(along_x, -0.5), np.full_like(along_x, ny - 0.5), along_y, along_y])
    ra, dec = wcs(x, y, with_bounding_box=False)
    return np.asarray(ra), np.asarray(dec)


def frame_centre(wcs, shape):
    """(ra, dec) in degrees of the centre of the central pixel of a frame of ``shape`` (ny, nx) (a pixel's
    centre, so that a grid about it can share the frame's pixels)."""
    ny, nx = shape
    ra, dec = wcs((nx - 1) // 2, (ny - 1) // 2, with_bounding_box=False)
    return float(ra), float(dec)


def pixel_scale(wcs, shape):
    """The pixel scale (deg/pixel, square root of the pixel's solid angle) at the centre of a frame."""
    ny, nx = shape
    x0, y0 = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra, dec = wcs([x0, x0 + 1, x0], [y0, y0, y0 + 1], with_bounding_box=False)
    east = np.array([(ra[1] - ra[0]) * np.cos(np.deg2rad(dec[0])), dec[1] - dec[0]])
    north = np.array([(ra[2] - ra[0]) * np.cos(np.deg2rad(dec[0])), dec[2] - dec[0]])
    return float(np.sqrt(abs(east[0] * north[1] - east[1] * north[0])))


class MosaicGrid:
    """The output grid: gWCS, shape (ny, nx) and the FITS WCS keywords of the same projection."""

    def __init__(self, crpix, crval, pixel_scale_deg, rotation_deg, shape):
        self.crpix, self.crval = tuple(map(float, crpix)), tuple(map(float, crval))
        self.pixel_scale_deg, self.rotation_deg = float(pixel_scale_deg), float(rotation_deg)
        self.shape = tuple(int(n) for n in shape)
        self.wcs = imaging_gwcs(self.crpix, self.crval, self.pixel_scale_deg, self.rotation_deg, self.shape)
        self.wcsinfo = fits_wcs_keywords(self.crpix, self.crval, self.pixel_scale_deg, self.rotation_deg)


def mosaic_grid(footprints, crval, pixel_scale_deg, rotation_deg=0.0, shape=None, crpix=None):
    """The TAN grid about ``crval`` (deg) holding every footprint ((ra, dec) arrays, ``footprint``).

    ``shape`` (ny, nx) and ``crpix``
    (1-based x, y) to the smallest grid containing them all. ``crpix`` alone keeps its reference pixel, given
    ``shape`` alone centres it. Raises ValueError when the grid would be empty.
    """
    ra = np.concatenate([points[0] for points in footprints])
    dec = np.concatenate([points[1] for points in footprints])
    provisional = imaging_gwcs((1.0, 1.0), crval, pixel_scale_deg, rotation_deg, (1, 1))
    x, y = provisional.invert(ra, dec, with_bounding_box=False)
    if shape is None:
        # the output pixels holding the footprint's edges (an edge on a pixel boundary, to rounding, is not
        # the next pixel's)
        first = np.floor(np.array([x.min(), y.min()]) + 0.5 + EDGE_TOLERANCE)
        last = np.ceil(np.array([x.max(), y.max()]) - 0.5 - EDGE_TOLERANCE)
        shape = (int(last[1] - first[1]) + 1, int(last[0] - first[0]) + 1)
        if crpix is None:
            crpix = (1.0 - first[0], 1.0 - first[1])
    elif crpix is None:
        crpix = ((shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0)
    if min(shape) < 1:
        raise ValueError(f"the output grid would have shape {shape}")
    return MosaicGrid(crpix, crval, pixel_scale_deg, rotation_deg, shape)


def pixel_map(wcs, shape, grid, arrays=None):
    """((ny, nx, 2) output-grid (x, y) of the centres of a frame's pixels, NaN outside its bounding box; (ny, nx)
    float32 area of each pixel in output pixels): the projective map where it holds (into ``arrays``' when
    given, ``input_weights``), else drizzle's ``calc_pixmap`` and ``pixel_area``."""
    matrix = projective_matrix(wcs, shape, grid)
    if matrix is None:
        pixmap = calc_pixmap(wcs, grid.wcs, shape=shape, disable_bbox="to")
        return pixmap, pixel_area(pixmap)
    pixmap, area = _array(arrays, "pixmap", (*shape, 2), np.float64), _array(arrays, "area", shape, np.float32)
    _projective_map(matrix, abs(np.linalg.det(matrix)), pixmap, area)
    if wcs.bounding_box is not None:
        (x_low, x_high), (y_low, y_high) = wcs.bounding_box.bounding_box(order="F")
        x, y = np.arange(shape[1]), np.arange(shape[0])
        pixmap[(y < y_low) | (y > y_high)] = np.nan
        pixmap[:, (x < x_low) | (x > x_high)] = np.nan
    return pixmap, area


def _is_linear_to_tan(transform):
    """Whether ``transform`` is linear maps of the plane followed by one TAN projection and sky rotation."""
    nodes = list(transform.traverse_postorder(include_operator=True))
    operators = [node for node in nodes if isinstance(node, str)]
    leaves = [node for node in nodes if not isinstance(node, str)]
    tan = [type(leaf) for leaf in leaves if isinstance(leaf, TAN_MODELS)]
    return (
        set(operators) <= {"|", "&"}
        and all(isinstance(leaf, LINEAR_MODELS + TAN_MODELS) for leaf in leaves)
        and tan == [models.Pix2Sky_TAN, models.RotateNative2Celestial]
        and isinstance(leaves[-1], models.RotateNative2Celestial)
    )


def projective_matrix(wcs, shape, grid):
    """The 3x3 H of the frame's projective pixel map onto ``grid`` (module docstring), or None when a gWCS is
    not linear-to-TAN or H misses the gWCS by more than ``PROJECTIVE_TOLERANCE`` output pixels."""
    if not (_is_linear_to_tan(wcs.forward_transform) and _is_linear_to_tan(grid.wcs.forward_transform)):
        return None
    ny, nx = shape
    step = np.linspace(0.0, 1.0, 2 * PROJECTIVE_POINTS - 1)
    x, y = (grid_axis.ravel() for grid_axis in np.meshgrid(step * (nx - 1), step * (ny - 1)))
    x_out, y_out = grid.wcs.backward_transform(*wcs.forward_transform(x, y))
    fit = np.zeros((2 * PROJECTIVE_POINTS - 1,) * 2, bool)
    fit[::2, ::2] = True
    fit = fit.ravel()
    # (X, Y) = (a x + b y + c, d x + e y + f) / (g x + h y + 1), linear in the 8 unknowns once multiplied out;
    # in coordinates centred and scaled to ~1 so that the least-squares problem is well conditioned.
    normal_in, normal_out = _normalisation(x[fit], y[fit]), _normalisation(x_out[fit], y_out[fit])
    u, v, _ = normal_in @ np.array([x[fit], y[fit], np.ones(fit.sum())])
    p, q, _ = normal_out @ np.array([x_out[fit], y_out[fit], np.ones(fit.sum())])
    zero, one = np.zeros_like(u), np.ones_like(u)
    system = np.concatenate([
        np.stack([u, v, one, zero, zero, zero, -u * p, -v * p], axis=1),
        np.stack([zero, zero, zero, u, v, one, -u * q, -v * q], axis=1),
    ])
    solution = np.linalg.lstsq(system, np.concatenate([p, q]), rcond=None)[0]
    matrix = np.linalg.inv(normal_out) @ np.append(solution, 1.0).reshape(3, 3) @ normal_in
    matrix /= matrix[2, 2]
    mapped = matrix @ np.array([x, y, np.ones_like(x)])
    miss = np.hypot(mapped[0] / mapped[2] - x_out, mapped[1] / mapped[2] - y_out)
    return matrix if np.all(miss[~fit] < PROJECTIVE_TOLERANCE) else None


def _normalisation(x, y):
    """3x3 matrix moving points (x, y) to their centroid and scaling them to an RMS distance of sqrt(2)."""
    scale = np.sqrt(2.0) / max(np.sqrt(np.mean((x - x.mean()) ** 2 + (y - y.mean()) ** 2)), 1e-300)
    return np.array([[scale, 0.0, -scale * x.mean()], [0.0, scale, -scale * y.mean()], [0.0, 0.0, 1.0]])


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _projective_map(matrix, determinant, pixmap, area):
    """pixmap[y, x] = (X / W, Y / W) with (X, Y, W) = matrix (x, y, 1), and area[y, x] = determinant / abs(W)**3."""
    for y in numba.prange(pixmap.shape[0]):
        for x in range(pixmap.shape[1]):
            w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
            pixmap[y, x, 0] = (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / w
            pixmap[y, x, 1] = (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / w
            area[y, x] = determinant / abs(w * w * w)


def pixel_area(pixmap):
    """Area of each input pixel in output pixels: abs(det) of the pixel map's Jacobian (central differences)."""
    dx_dy, dx_dx = np.gradient(pixmap[..., 0])
    dy_dy, dy_dx = np.gradient(pixmap[..., 1])
    return np.abs(dx_dx * dy_dy - dx_dy * dy_dx).astype(np.float32)


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _drizzle_arrays(data, background, var_1, var_2, var_3, weights, pixmap, area, scaled, out_1, out_2, out_3, used_weights):
    """What drizzle gets of a frame, where its pixel is usable (weight > 0, SCI, the variances, the pixel map
    finite, area > 0), else 0: scaled = (data - background) / area, out_k = var_k / area**2 (float32),
    used_weights = weights. out_k may all be ``scaled`` when the variances are not drizzled (written first)."""
    for y in numba.prange(data.shape[0]):
        for x in range(data.shape[1]):
            a = area[y, x]
            usable = (
                weights[y, x] > 0 and np.isfinite(data[y, x]) and np.isfinite(a) and a > 0
                and np.isfinite(pixmap[y, x, 0]) and np.isfinite(pixmap[y, x, 1])
                and np.isfinite(var_1[y, x]) and np.isfinite(var_2[y, x]) and np.isfinite(var_3[y, x])
            )
            if usable:
                squared = a * a
                out_1[y, x], out_2[y, x], out_3[y, x] = var_1[y, x] / squared, var_2[y, x] / squared, var_3[y, x] / squared
                scaled[y, x] = (data[y, x] - background) / a
                used_weights[y, x] = weights[y, x]
            else:
                out_1[y, x] = out_2[y, x] = out_3[y, x] = scaled[y, x] = used_weights[y, x] = 0.0


def _pixel_scale_ratio(area, usable):
    """Output over input pixel scale (linear) of a frame: 1 / sqrt(median usable pixel area)."""
    return float(1.0 / np.sqrt(np.median(area[usable]))) if usable.any() else 1.0


class PreparedFrame(NamedTuple):
    """What drizzle's ``add_image`` gets of one frame (``prepare_frame``)."""

    data: np.ndarray
    variances: list | None
    weights: np.ndarray
    pixmap: np.ndarray
    exposure_time: float
    pixel_scale_ratio: float


def prepare_frame(
    data, variances, weights, pixmap, area, exposure_time, background=0.0, kernel="square", with_variances=True, arrays=None
):
    """A frame made ready for drizzle (module docstring): ``data`` (DN/s per input pixel) less ``background``
    divided by the pixel ``area`` (``pixel_map``), the ``variances`` (VAR_POISSON, VAR_RNOISE, VAR_FLAT) by its
    square unless ``with_variances`` is False, and the ``weights`` (``input_weights``) zero where a pixel is not
    usable (a pixel without finite variances is left out either way); in ``arrays``' arrays when given."""
    shape = data.shape
    scaled = _array(arrays, "scaled", shape, np.float32)
    scaled_variances = [_array(arrays, f"variance_{k}", shape, np.float32) for k in range(3)] if with_variances else None
    used_weights = _array(arrays, "used_weights", shape, np.float32)
    variance_outputs = scaled_variances or [scaled] * 3  # not drizzled: written over by ``scaled``
    _drizzle_arrays(data, np.float32(background), *variances, weights, pixmap, area, scaled, *variance_outputs, used_weights)
    ratio = _pixel_scale_ratio(area, used_weights > 0) if kernel in SCALED_KERNELS else 1.0
    return PreparedFrame(scaled, scaled_variances, used_weights, pixmap, float(exposure_time), ratio)


def _fill_number(fillval):
    """The number drizzle leaves in output pixels no input covers, for a ``fillval`` string ('NAN', 'INDEF' or
    a number)."""
    return np.nan if str(fillval).strip().upper() in ("NAN", "INDEF", "") else float(fillval)


class DrizzleOutput:
    """The output arrays of one drizzle: SCI, WHT, the context planes of ``n_frames`` frames (unless ``context``
    is False), the three variances (unless ``variances`` is False) and the total exposure time, in shared memory
    (``shared_array``), so that a forked process can add frames to them and this one read them."""

    def __init__(self, shape, n_frames=1, fillval="NAN", variances=True, context=True):
        self.fillval, self.n_frames = fillval, max(int(n_frames), 1)
        self.sci = shared_array(shape, np.float32)
        self.wht = shared_array(shape, np.float32)
        self.ctx = shared_array(((self.n_frames - 1) // CONTEXT_BITS + 1, *shape), np.int32) if context else None
        self.variances = [shared_array(shape, np.float32) for _ in range(3)] if variances else None
        self._exposure_time = shared_array((1,), np.float64)
        self.reset()

    def reset(self):
        """Back to no frame: SCI and the variances at the fill value, WHT, the context and the time at 0."""
        fill = _fill_number(self.fillval)
        for array in (self.sci, *(self.variances or ())):
            array.fill(fill)
        for array in (self.wht, self.ctx, self._exposure_time):
            if array is not None:
                array.fill(0)

    @property
    def exposure_time(self):
        return float(self._exposure_time[0])

    def add(self, frame, index, kernel="square", pixfrac=1.0):
        """Drizzle a ``PreparedFrame`` onto these arrays as frame ``index`` of the context (numpy and drizzle
        only: safe in a forked process)."""
        drizzle = Drizzle(
            kernel=kernel, fillval=self.fillval, fillval2=self.fillval, out_img=self.sci, out_wht=self.wht,
            out_ctx=self.ctx, out_img2=self.variances, exptime=self.exposure_time, begin_ctx_id=index,
            max_ctx_id=self.n_frames - 1, disable_ctx=self.ctx is None,
        )
        drizzle.add_image(
            frame.data, exptime=frame.exposure_time, pixmap=frame.pixmap, data2=frame.variances,
            weight_map=frame.weights, pixfrac=pixfrac, pixel_scale_ratio=frame.pixel_scale_ratio,
        )
        self._exposure_time[0] += frame.exposure_time

    def absorb(self, other):
        """Make these arrays the drizzle of both sets of frames, this one's and ``other``'s: drizzle's weighted
        sums simply add (SCI W = sum a w d; VAR W**2 = sum (a w)**2 v), so

            W = W1 + W2,  SCI = (SCI1 W1 + SCI2 W2) / W,  VAR = (VAR1 W1**2 + VAR2 W2**2) / W**2,

        the contexts are OR'ed and the exposure times added."""
        variances = self.variances or [self.sci] * 3
        other_variances = other.variances or [other.sci] * 3
        _absorb(self.sci, self.wht, *variances, other.sci, other.wht, *other_variances, self.variances is not None)
        np.bitwise_or(self.ctx, other.ctx, out=self.ctx)
        self._exposure_time[0] += other.exposure_time


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _absorb(sci, wht, var_1, var_2, var_3, other_sci, other_wht, other_1, other_2, other_3, with_variances):
    """``DrizzleOutput.absorb`` pixel by pixel (a pixel only one side covers takes that side's values)."""
    for y in numba.prange(sci.shape[0]):
        for x in range(sci.shape[1]):
            w1, w2 = wht[y, x], other_wht[y, x]
            if w2 <= 0:
                continue
            if w1 <= 0:
                sci[y, x], wht[y, x] = other_sci[y, x], w2
                if with_variances:
                    var_1[y, x], var_2[y, x], var_3[y, x] = other_1[y, x], other_2[y, x], other_3[y, x]
                continue
            total = w1 + w2
            sci[y, x] = (sci[y, x] * w1 + other_sci[y, x] * w2) / total
            if with_variances:
                a, b = w1 * w1, w2 * w2
                square = total * total
                var_1[y, x] = (var_1[y, x] * a + other_1[y, x] * b) / square
                var_2[y, x] = (var_2[y, x] * a + other_2[y, x] * b) / square
                var_3[y, x] = (var_3[y, x] * a + other_3[y, x] * b) / square
            wht[y, x] = total


class MosaicDrizzle:
    """Drizzle frames one at a time onto one grid: SCI, the three variances (unless ``variances`` is False),
    WHT and the context.

    Only the output arrays are kept between frames, so memory does not grow with the number of frames. Frames
    go alternately to two ``DrizzleOutput`` (even and odd frames), combined at the end (``absorb``), so that two
    can be drizzled at once in forked processes (``processes`` 2; drizzle's kernel holds the GIL, so threads
    cannot) and the mosaic is the same, bit for bit, however many processes made it. Without ``variances``
    (outlier detection's single images) a pixel without finite variances is still left out.
    """

    def __init__(self, shape, kernel="square", pixfrac=1.0, fillval="NAN", n_frames=1, variances=True, processes=1):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
        self.kernel, self.pixfrac, self.with_variances, self.n_frames = kernel, float(pixfrac), variances, n_frames
        self._outputs = [DrizzleOutput(shape, n_frames, fillval, variances) for _ in range(PARTIAL_DRIZZLES)]
        # Frame k reuses the output of frame k - PARTIAL_DRIZZLES, which the pool's first-in-first-out order
        # has finished by then when it runs at most PARTIAL_DRIZZLES processes.
        self._pool = ForkPool(min(processes, PARTIAL_DRIZZLES))
        self._kept = SlotArrays()
        self._added, self._result = 0, None

    def arrays(self):
        """The arrays (``SlotArrays.of``) the next frame's pixel map and weights may go into (``pixel_map``,
        ``input_weights``): kept from frame to frame, free once the frame that used them last is drizzled."""
        return self._kept.of(self._pool.reserve())

    def __enter__(self):
        return self

    def __exit__(self, *error):
        self._pool.__exit__(*error)

    def add(self, data, variances, weights, pixmap, area, exposure_time, background=0.0):
        """Add one frame: ``data`` (DN/s per input pixel, ``background`` subtracted here), ``variances``
        (VAR_POISSON, VAR_RNOISE, VAR_FLAT), ``weights`` (``input_weights``), ``pixmap`` and ``area``
        (``pixel_map``; their arrays may be those of ``arrays()``)."""
        if self._result is not None:
            raise RuntimeError("no frame can be added once the drizzle's results have been read")
        if self._added >= self.n_frames:
            raise RuntimeError(f"this drizzle was made for {self.n_frames} frames (its context planes)")
        frame = prepare_frame(
            data, variances, weights, pixmap, area, exposure_time, background, self.kernel, self.with_variances, self.arrays()
        )
        output = self._outputs[self._added % PARTIAL_DRIZZLES]
        self._pool.submit(output.add, frame, self._added, self.kernel, self.pixfrac)
        self._added += 1

    @property
    def result(self):
        """The ``DrizzleOutput`` of every frame added (waiting for the processes and combining their outputs)."""
        if self._result is None:
            self._pool.drain()
            first, *others = self._outputs
            for other in others:
                first.absorb(other)
            self._result, self._outputs = first, []
        return self._result

    @property
    def sci(self):
        return self.result.sci

    @property
    def wht(self):
        return self.result.wht

    @property
    def con(self):
        """The context, always 3-D (planes of 32 frames)."""
        return self.result.ctx

    @property
    def variances(self):
        """(VAR_POISSON, VAR_RNOISE, VAR_FLAT) of the output pixels."""
        return tuple(self.result.variances)

    @property
    def err(self):
        return np.sqrt(np.sum(self.variances, axis=0, dtype=np.float32))

    @property
    def total_exposure_time(self):
        return self.result.exposure_time
