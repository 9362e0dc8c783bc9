"""Geometric distortion solved from a dithered observation of a dense star field.

The distortion D takes detector pixels (x, y) to ideal pixels of the same scale, fixed at the detector centre
(xc, yc) = ((nx - 1) / 2, (ny - 1) / 2), with u = (x - xc) / R, v = (y - yc) / R and R = nx / 2:

    D(x, y) = (x, y) + sum_{2 <= i + j <= degree} (a_ij, b_ij) u**i v**j

No constant or linear term: the position and scale at the centre belong to the pointing and the plate scale.

Every frame k maps ideal pixels to a common plane (the ideal pixels of the first frame, where the catalogue is
projected) by its nominal placement N_k (from the header's pointing, position angle and plate scale: an
affine y -> A_k y + b_k) corrected by the small rotation phi_k and shift that its pointing missed:

    F_k(y) = R(phi_k) A_k y + m_k       (m_k starts at b_k)

A star i seen at detector pixel x_ik in frame k sits at s_i in the common plane:

    F_k(D(x_ik)) = s_i + noise

With a catalogue the s_i are its positions and every frame's (m_k, phi_k) is free. By self-calibration the
s_i are unknowns too and the first frame's placement is held at its nominal value (a shift and rotation of
the whole field cannot be told from one of the s_i). The frames share one plate scale (the same optics), so
no term of D is degenerate with the placements: in particular the quadratic terms, which a free scale per
frame would absorb under pure translations.

The weighted least squares (weights 1 / sigma_ik**2, the centroid errors) is solved by Gauss-Newton: the
model is linear in (a, b), m_k and s_i and the rotation is linearised about its current value. The stars'
positions are eliminated by the Schur complement (each one's 2 x 2 block is sum(w) I, R being orthogonal),
leaving a small system in the coefficients and placements. Detections whose normalised residual exceeds
``clip_sigma`` are rejected and the fit repeated.

The matching starts from nothing but the headers. Each frame's shift is found by voting (the histogram of the
offsets between its bright stars and the reference's, within ``search_radius``); then stars are matched and
the model fitted in widening regions about the centre, where D is nearly the identity, with a tighter match
radius at each stage: ``STAGES``.

Uncertainty: the covariance of the coefficients is (the Schur complement)^-1 scaled by the reduced chi^2;
the 1-sigma error of D at a pixel is sqrt(g^T C g) per axis with g the monomials there, reported as its RMS
and maximum over the detector.
"""

from dataclasses import dataclass

import numpy as np
from astropy.modeling import fitting, models
from scipy import sparse
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_limits

from ..tweakreg.sources import background, find_stars

__all__ = ["FrameStars", "DistortionSolution", "measure_stars", "monomials", "solve_distortion", "windowed_centroids"]

#: (largest max(|u|, |v|) of the detections used, polynomial degree, match radius in pixels) of each stage.
STAGES = ((0.35, 3, 2.0), (0.7, 5, 1.0), (np.inf, None, 0.5))
GAUSS_NEWTON_ITERATIONS = 3
CLIP_ROUNDS = 3
#: Fewest matched detections that place a frame (shift and rotation).
MIN_MATCHES = 5
#: Bright stars per frame that vote for its shift, and the histogram's bin (pixels).
VOTERS = 400
VOTE_BIN = 1.0
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Grid points per side on which the solution's uncertainty is evaluated.
UNCERTAINTY_GRID = 65
#: The transform's inverse: polynomial degree, grid points per side (over the detector and a 5 % margin) it
#: is fitted on, and the fixed-point iterations that invert D there (each gains the offsets' largest
#: derivative, about 1e-2).
INVERSE_DEGREE = 7
INVERSE_GRID = 65
INVERSE_MARGIN = 0.05
INVERSION_ITERATIONS = 12


def monomials(degree):
    """The exponents (i, j) of u**i v**j with 2 <= i + j <= degree, by order, then by falling i."""
    return [(order - j, j) for order in range(2, degree + 1) for j in range(order + 1)]


def normalised(x, y, shape):
    """(u, v) of detector pixels (x, y) on a detector of ``shape`` (ny, nx)."""
    ny, nx = shape
    radius = nx / 2.0
    return (np.asarray(x, float) - (nx - 1) / 2.0) / radius, (np.asarray(y, float) - (ny - 1) / 2.0) / radius


def basis(x, y, shape, degree):
    """The monomials of ``degree`` at detector pixels (x, y): an array (n, terms), whose first columns are
    those of any lower degree."""
    u, v = normalised(np.ravel(x), np.ravel(y), shape)
    u_powers, v_powers = [np.ones_like(u)], [np.ones_like(v)]
    for _ in range(degree):
        u_powers.append(u_powers[-1] * u)
        v_powers.append(v_powers[-1] * v)
    return np.stack([u_powers[i] * v_powers[j] for i, j in monomials(degree)], axis=-1)


@dataclass
class FrameStars:
    """One frame's detections (0-based detector pixels and their 1-sigma centroid errors) and its nominal
    placement in the common plane: y -> ``matrix`` @ y + ``offset``."""

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    flux: np.ndarray
    matrix: np.ndarray
    offset: np.ndarray


@dataclass
class DistortionSolution:
    """The solved D: ``coefficients[(i, j)] = (a_ij, b_ij)`` in pixels, on a detector of ``shape``, and their
    ``covariance`` (a's block, then b's); the frames' placements (``rotations`` radians, ``shifts`` pixels,
    beyond the nominal ones); residuals of the kept detections (pixels, per axis)."""

    shape: tuple
    degree: int
    coefficients: dict
    covariance: np.ndarray
    rotations: np.ndarray
    shifts: np.ndarray
    residuals: np.ndarray
    n_stars: int
    n_detections: int
    n_rejected: int
    method: str

    def largest_displacement(self):
        """The largest length of D(x, y) - (x, y) on the uncertainty grid over the detector (pixels)."""
        x, y = _detector_grid(self.shape)
        return float(np.hypot(*self.offsets(x, y)).max())

    def uncertainty(self):
        """The 1-sigma error (pixels, distance) of D on the grid over the detector, from the covariance."""
        terms = basis(*_detector_grid(self.shape), self.shape, self.degree)
        n = terms.shape[1]
        variance = sum(
            np.einsum("mt,tu,mu->m", terms, self.covariance[block, block], terms)
            for block in (slice(0, n), slice(n, 2 * n))
        )
        return np.sqrt(variance)

    @property
    def uncertainty_rms(self):
        return float(np.sqrt(np.mean(self.uncertainty() ** 2)))

    @property
    def uncertainty_max(self):
        return float(self.uncertainty().max())

    @property
    def rms_residual(self):
        """RMS of the kept detections' residual distance (pixels)."""
        return float(np.sqrt(np.mean(np.sum(self.residuals**2, axis=1))))

    def offsets(self, x, y):
        """D(x, y) - (x, y) at detector pixels."""
        terms = basis(x, y, self.shape, self.degree)
        a, b = np.array([self.coefficients[power] for power in monomials(self.degree)]).T
        return (terms @ a).reshape(np.shape(x)), (terms @ b).reshape(np.shape(y))

    def transform(self):
        """D as an astropy model (the polynomials act on u, v) with its inverse: polynomials of
        ``INVERSE_DEGREE`` fitted to D inverted by fixed-point iteration, x = y - offsets(x)."""
        ny, nx = self.shape
        radius, centre = nx / 2.0, ((nx - 1) / 2.0, (ny - 1) / 2.0)
        forward_x = models.Polynomial2D(self.degree, c1_0=1.0)
        forward_y = models.Polynomial2D(self.degree, c0_1=1.0)
        for (i, j), (a, b) in self.coefficients.items():
            setattr(forward_x, f"c{i}_{j}", a / radius)
            setattr(forward_y, f"c{i}_{j}", b / radius)
        margin = INVERSE_MARGIN * nx
        ideal_x, ideal_y = np.meshgrid(
            np.linspace(-0.5 - margin, nx - 0.5 + margin, INVERSE_GRID),
            np.linspace(-0.5 - margin, ny - 0.5 + margin, INVERSE_GRID),
        )
        x, y = ideal_x.copy(), ideal_y.copy()
        for _ in range(INVERSION_ITERATIONS):
            offset_x, offset_y = self.offsets(x, y)
            x, y = ideal_x - offset_x, ideal_y - offset_y
        u_ideal, v_ideal = normalised(ideal_x, ideal_y, self.shape)
        fitter = fitting.LinearLSQFitter()
        inverse_x, inverse_y = (
            fitter(models.Polynomial2D(INVERSE_DEGREE), u_ideal, v_ideal, values)
            for values in normalised(x, y, self.shape)
        )
        forward = _in_normalised_coordinates(forward_x & forward_y, centre, radius)
        forward.inverse = _in_normalised_coordinates(inverse_x & inverse_y, centre, radius)
        return forward


def _in_normalised_coordinates(polynomials, centre, radius):
    """Pixels -> (u, v) | the two ``polynomials`` of (u, v) | back to pixels."""
    to_unit = models.Shift(-centre[0]) & models.Shift(-centre[1]) | models.Scale(1 / radius) & models.Scale(1 / radius)
    back = models.Scale(radius) & models.Scale(radius) | models.Shift(centre[0]) & models.Shift(centre[1])
    return to_unit | models.Mapping((0, 1, 0, 1)) | polynomials | back


def windowed_centroids(data, unusable, x, y, sigma_window, noise, iterations=10, half=None):
    """Gaussian-windowed centroids (SExtractor's XWIN) of the stars near (x, y) of ``data`` (background
    subtracted), with their 1-sigma errors: each iteration moves the position by
    2 sum(w I d) / sum(w I), w = exp(-r^2 / (2 sigma_window^2)), d the offset of a pixel from it and r its length. Unbiased
    for a symmetric PSF and close to optimal; ``noise`` (per pixel, scalar or map) gives the error
    2 sqrt(sum(w^2 noise^2 d^2)) / sum(w I). Stars whose window reaches the edge or an unusable pixel get NaN."""
    half = int(np.ceil(4 * sigma_window)) if half is None else half
    ny, nx = data.shape
    cx, cy = np.asarray(x, float).copy(), np.asarray(y, float).copy()
    offsets = np.arange(-half, half + 1)
    noise_map = np.broadcast_to(np.asarray(noise, float), data.shape)
    for _ in range(iterations):
        lost = ~(np.isfinite(cx) & np.isfinite(cy))
        cx[lost], cy[lost] = -1.0, -1.0
        ix, iy = np.rint(cx).astype(int), np.rint(cy).astype(int)
        inside = (ix >= half) & (iy >= half) & (ix < nx - half) & (iy < ny - half)
        ix, iy = np.where(inside, ix, half), np.where(inside, iy, half)
        rows = iy[:, None, None] + offsets[None, :, None]
        cols = ix[:, None, None] + offsets[None, None, :]
        stamp = data[rows, cols]
        dx = cols - cx[:, None, None]
        dy = rows - cy[:, None, None]
        weight = np.exp(-(dx**2 + dy**2) / (2 * sigma_window**2))
        total = np.sum(weight * stamp, axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = cx + 2 * np.sum(weight * stamp * dx, axis=(1, 2)) / total
            cy = cy + 2 * np.sum(weight * stamp * dy, axis=(1, 2)) / total
        cx[~inside], cy[~inside] = np.nan, np.nan
    variance = (weight * noise_map[rows, cols]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        error = 2 * np.sqrt(np.sum(variance * (dx**2 + dy**2) / 2, axis=(1, 2))) / total
    bad = unusable[rows, cols].any(axis=(1, 2)) | ~(total > 0) | ~np.isfinite(cx) | ~np.isfinite(cy)
    bad |= (np.abs(cx - x) > 1.5) | (np.abs(cy - y) > 1.5)  # ran off to a neighbour
    cx[bad], cy[bad], error[bad] = np.nan, np.nan, np.nan
    return cx, cy, error


def measure_stars(data, unusable, err, fwhm, snr_threshold, box_size):
    """(x, y, sigma, flux) of the stars of a frame, brightest first: DAOFIND on the background-subtracted
    frame (tweakreg's ``find_stars``), then ``windowed_centroids`` with the noise of ERR (the background's
    where ERR is not usable)."""
    filled = np.where(unusable, np.float32(0), data)
    level, noise = background(filled, unusable, box_size)
    subtracted = filled - level
    found = find_stars(subtracted, unusable, noise, fwhm, snr_threshold)
    if err is None or np.shape(err) != np.shape(data):
        noise_map = noise
    else:
        noise_map = np.where(np.isfinite(err) & (err > 0), err, noise)
    x, y, sigma = windowed_centroids(
        subtracted, unusable, np.asarray(found["x"], float), np.asarray(found["y"], float), fwhm / FWHM_PER_SIGMA, noise_map
    )
    return x, y, sigma, np.asarray(found["flux"], float)


def vote_shift(moving, fixed, search_radius, bin_size=VOTE_BIN):
    """The shift t that puts most of ``moving`` (n, 2) on ``fixed`` (m, 2): the peak of the histogram of the
    offsets fixed_j - moving_i within ``search_radius``, refined by the mean of the offsets near it; None
    without any pair."""
    pairs = cKDTree(moving).query_ball_tree(cKDTree(fixed), search_radius)
    offsets = np.array([fixed[j] - moving[i] for i, near in enumerate(pairs) for j in near])
    if len(offsets) == 0:
        return None
    edges = np.arange(-search_radius, search_radius + bin_size, bin_size)
    counts, _, _ = np.histogram2d(offsets[:, 0], offsets[:, 1], bins=(edges, edges))
    peak_x, peak_y = np.unravel_index(np.argmax(counts), counts.shape)
    centre = np.array([edges[peak_x] + bin_size / 2, edges[peak_y] + bin_size / 2])
    near = np.hypot(*(offsets - centre).T) < bin_size
    return offsets[near].mean(axis=0)


class _Model:
    """The current D and placements; maps detections to the common plane."""

    def __init__(self, frames, shape, degree):
        self.shape = shape
        self.degree = degree
        self.a = np.zeros(len(monomials(degree)))
        self.b = np.zeros(len(monomials(degree)))
        self.rotations = np.zeros(len(frames))
        self.shifts = np.array([frame.offset for frame in frames], float)
        self.matrices = np.array([frame.matrix for frame in frames], float)

    def with_degree(self, degree):
        """The same model with coefficients up to ``degree`` (new ones zero)."""
        wider = {power: (a, b) for power, a, b in zip(monomials(self.degree), self.a, self.b)}
        self.a = np.array([wider.get(power, (0.0, 0.0))[0] for power in monomials(degree)])
        self.b = np.array([wider.get(power, (0.0, 0.0))[1] for power in monomials(degree)])
        self.degree = degree

    def placement(self, frame):
        """R(phi_k) A_k of frame index (array)."""
        cos, sin = np.cos(self.rotations[frame]), np.sin(self.rotations[frame])
        rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
        return rotation @ self.matrices[frame]

    def ideal(self, detections):
        """D(x) of the detections: (n, 2)."""
        terms = detections.terms[:, : len(self.a)]
        return np.stack([detections.x + terms @ self.a, detections.y + terms @ self.b], -1)

    def common(self, detections):
        """F_k(D(x)) of the detections: (n, 2)."""
        rotated = np.einsum("nij,nj->ni", self.placement(detections.frame), self.ideal(detections))
        return rotated + self.shifts[detections.frame]


@dataclass
class _Detections:
    """All frames' detections, flat, with D's monomials at each (``terms``, of the solution's degree)."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    frame: np.ndarray
    flux: np.ndarray
    terms: np.ndarray

    def __getitem__(self, keep):
        return _Detections(*(getattr(self, name)[keep] for name in ("x", "y", "weight", "frame", "flux", "terms")))

    def __len__(self):
        return len(self.x)


def _flatten(frames, shape, degree):
    x = np.concatenate([frame.x for frame in frames])
    y = np.concatenate([frame.y for frame in frames])
    sigma = np.concatenate([frame.sigma for frame in frames])
    flux = np.concatenate([frame.flux for frame in frames])
    index = np.concatenate([np.full(len(frame.x), k) for k, frame in enumerate(frames)])
    good = np.isfinite(x) & np.isfinite(y) & (sigma > 0)
    x, y = x[good], y[good]
    return _Detections(x, y, 1.0 / sigma[good] ** 2, index[good], flux[good], basis(x, y, shape, degree))


def _gauss_newton_step(model, detections, star, positions, fixed_frame, catalog_mode):
    """One Gauss-Newton update of ``model`` (and of ``positions`` by self-calibration) from the matched
    ``detections`` (star index ``star``); returns the Schur complement (the normal matrix of the coefficients
    and placements), for the covariance."""
    n_terms = len(model.a)
    n_frames = len(model.rotations)
    free_frames = [k for k in range(n_frames) if k != fixed_frame]
    terms = detections.terms[:, :n_terms]
    placement = model.placement(detections.frame)  # (n, 2, 2)
    rotated = np.einsum("nij,nj->ni", placement, model.ideal(detections))
    residual = rotated + model.shifts[detections.frame] - positions[star]  # (n, 2)

    # Jacobian of the 2 rows of each detection in the global parameters: a, b, then (m_x, m_y, phi) per frame.
    n = len(detections)
    jacobian = np.zeros((n, 2, 2 * n_terms + 3 * len(free_frames)))
    jacobian[:, :, :n_terms] = placement[:, :, 0, None] * terms[:, None, :]
    jacobian[:, :, n_terms : 2 * n_terms] = placement[:, :, 1, None] * terms[:, None, :]
    turned = np.stack([-rotated[:, 1], rotated[:, 0]], -1)  # d/dphi R(phi) A y = J R A y
    column = {k: 2 * n_terms + 3 * index for index, k in enumerate(free_frames)}
    start = np.array([column.get(k, -1) for k in range(n_frames)])[detections.frame]
    rows = np.flatnonzero(start >= 0)
    start = start[rows]
    jacobian[rows, 0, start] = 1.0
    jacobian[rows, 1, start + 1] = 1.0
    jacobian[rows, :, start + 2] = turned[rows]

    weight = detections.weight
    flat = jacobian.reshape(2 * n, -1)
    weighted = flat * np.repeat(weight, 2)[:, None]
    normal = weighted.T @ flat
    gradient = -(weighted.T @ residual.ravel())
    if not catalog_mode:
        # d residual / d s_i = -I: eliminate the stars (block sum(w) I each).
        n_stars = len(positions)
        members = sparse.csr_matrix((weight, (star, np.arange(n))), shape=(n_stars, n))
        total = np.asarray(members.sum(axis=1)).ravel()
        coupling = -(members @ jacobian.reshape(n, -1)).reshape(2 * n_stars, -1)  # rows: sum_d w_d (-I)^T J_d
        star_gradient = members @ residual  # -(sum w (-I) r)
        scaled = coupling / np.repeat(total, 2)[:, None]
        normal -= coupling.T @ scaled
        gradient -= scaled.T @ star_gradient.ravel()
    step = np.linalg.solve(normal, gradient)
    if not catalog_mode:
        positions += (star_gradient - (coupling @ step).reshape(n_stars, 2)) / total[:, None]
    model.a += step[:n_terms]
    model.b += step[n_terms : 2 * n_terms]
    for k, start in column.items():
        model.shifts[k] += step[start : start + 2]
        model.rotations[k] += step[start + 2]
    return normal


def _well_observed(rows, star, positions, min_frames_per_star):
    """The matched ``rows`` whose star has at least ``min_frames_per_star`` of them, the stars renumbered
    0.. in ``star`` (-1 elsewhere) and their ``positions``."""
    counts = np.bincount(star[rows], minlength=len(positions))
    rows = rows[counts[star[rows]] >= min_frames_per_star]
    kept_stars, compact = np.unique(star[rows], return_inverse=True)
    renumbered = np.full(len(star), -1)
    renumbered[rows] = compact
    return rows, renumbered, positions[kept_stars]


def _outliers(residual, weight, clip_sigma):
    """Detections whose chi^2 (2 degrees of freedom) exceeds clip_sigma^2 times the typical one: the
    median chi^2 over 2 ln 2 (a chi^2_2 distribution's median), at least 1."""
    chi2 = np.sum(residual**2, axis=1) * weight
    scale = max(np.median(chi2) / (2 * np.log(2)), 1.0)
    return chi2 > clip_sigma**2 * scale


def _detector_grid(shape):
    """(x, y) of ``UNCERTAINTY_GRID`` x ``UNCERTAINTY_GRID`` points over the detector, its edges included."""
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(-0.5, nx - 0.5, UNCERTAINTY_GRID), np.linspace(-0.5, ny - 0.5, UNCERTAINTY_GRID))
    return x.ravel(), y.ravel()


def _match_catalog(common, catalog, radius):
    """Catalogue index of each detection's nearest catalogue star within ``radius``, -1 if none."""
    distance, index = cKDTree(catalog).query(common, distance_upper_bound=radius)
    return np.where(np.isfinite(distance), index, -1)


def _match_each_other(common, frame, radius):
    """Stars as groups of detections, at most one per frame, within ``radius`` of the group's first member,
    frames taken in order: (star index of each detection, the stars' positions)."""
    star = np.full(len(common), -1)
    positions = np.empty((0, 2))
    for k in np.unique(frame):
        members = np.flatnonzero(frame == k)
        if len(positions):
            distance, nearest = cKDTree(positions).query(common[members], distance_upper_bound=radius)
            found = np.isfinite(distance)
            # one detection of a frame per star: the nearest wins
            order = np.argsort(distance[found])
            chosen = members[found][order]
            nearest_found = nearest[found][order]
            _, first = np.unique(nearest_found, return_index=True)
            star[chosen[first]] = nearest_found[first]
        new = members[star[members] < 0]
        star[new] = len(positions) + np.arange(len(new))
        positions = np.vstack([positions, common[new]])
    return star, positions


def _initial_shifts(model, detections, central, catalog, search_radius):
    """Each frame's shift by voting: against the catalogue, or against the stars of the frames placed before it
    (its neighbours in the dither pattern overlap it the most), each frame's brightest ``central`` stars."""
    common = model.common(detections)
    placed = []
    for k in range(len(model.rotations)):
        rows = np.flatnonzero((detections.frame == k) & central)
        rows = rows[np.argsort(-detections.flux[rows])][:VOTERS]
        if catalog is None and k == 0:
            shift = np.zeros(2)
        else:
            reference = catalog if catalog is not None else np.concatenate(placed)
            shift = vote_shift(common[rows], reference, search_radius) if len(rows) else None
        if shift is None:
            raise ValueError(f"frame {k}: no star within {search_radius} pixels of the reference's")
        model.shifts[k] += shift
        placed.append(common[rows] + shift)


def _check_matches(frame, fixed_frame, n_frames):
    """ValueError naming a frame whose placement its matched detections (``frame``: their frames) cannot fix."""
    counts = np.bincount(frame, minlength=n_frames)
    for k, count in enumerate(counts):
        if k != fixed_frame and count < MIN_MATCHES:
            raise ValueError(f"frame {k}: {count} of its stars matched, fewer than {MIN_MATCHES} (is it in the dither?)")


def solve_distortion(frames, shape, degree=5, catalog=None, search_radius=40.0, clip_sigma=4.0,
                     min_frames_per_star=2):
    """The DistortionSolution of ``frames`` (FrameStars, the first one the common plane's) on a detector of
    ``shape``, against ``catalog`` (n, 2 positions in the common plane) or by self-calibration (None).

    BLAS runs on one thread: the normal matrices are thin (a few tens of columns), one thread is as fast as two
    on a quiet machine, and on a busy one OpenBLAS's spinning threads made the solution 3x slower (measured).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _solve(frames, shape, degree, catalog, search_radius, clip_sigma, min_frames_per_star)


def _solve(frames, shape, degree, catalog, search_radius, clip_sigma, min_frames_per_star):
    if degree < 2:
        raise ValueError(f"degree must be at least 2, got {degree}")
    if catalog is None and len(frames) < 2:
        raise ValueError("self-calibration needs at least 2 dithered frames")
    catalog_mode = catalog is not None
    catalog = np.asarray(catalog, float) if catalog_mode else None
    detections = _flatten(frames, shape, degree)
    extent = np.max(np.abs(normalised(detections.x, detections.y, shape)), axis=0)  # max(|u|, |v|)
    model = _Model(frames, shape, min(degree, STAGES[0][1]))
    _initial_shifts(model, detections, extent < STAGES[0][0], catalog, search_radius)
    fixed_frame = None if catalog_mode else 0

    for region, stage_degree, radius in STAGES:
        model.with_degree(min(degree, stage_degree or degree))
        used = detections[extent < region]
        common = model.common(used)
        if catalog_mode:
            star, positions = _match_catalog(common, catalog, radius), catalog
        else:
            star, positions = _match_each_other(common, used.frame, radius)
        rows, rejected = np.flatnonzero(star >= 0), 0
        for clip_round in range(CLIP_ROUNDS + 1):
            rows, star, positions = _well_observed(rows, star, positions, 1 if catalog_mode else min_frames_per_star)
            kept = used[rows]
            _check_matches(kept.frame, fixed_frame, len(frames))
            for _ in range(GAUSS_NEWTON_ITERATIONS):
                normal = _gauss_newton_step(model, kept, star[rows], positions, fixed_frame, catalog_mode)
            residual = model.common(kept) - positions[star[rows]]
            outliers = _outliers(residual, kept.weight, clip_sigma)
            if not outliers.any() or clip_round == CLIP_ROUNDS:
                break
            rows, rejected = rows[~outliers], rejected + int(outliers.sum())

    terms_count = len(model.a)
    chi2 = float(np.sum(np.sum(residual**2, axis=1) * kept.weight))
    dof = max(2 * len(kept) - len(normal) - (0 if catalog_mode else 2 * len(positions)), 1)
    covariance = np.linalg.inv(normal)[: 2 * terms_count, : 2 * terms_count] * (chi2 / dof)
    counts = np.bincount(star[rows], minlength=len(positions))
    return DistortionSolution(
        shape=tuple(shape),
        degree=model.degree,
        coefficients={power: (float(a), float(b)) for power, a, b in zip(monomials(model.degree), model.a, model.b)},
        covariance=covariance,
        rotations=model.rotations.copy(),
        shifts=model.shifts - np.array([frame.offset for frame in frames]),
        residuals=residual,
        n_stars=int(np.count_nonzero(counts)),
        n_detections=len(kept),
        n_rejected=rejected,
        method="catalog" if catalog_mode else "self-calibration",
    )
