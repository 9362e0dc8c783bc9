"""The true sky scene in detector pixels: stars with a pixel-integrated Gaussian PSF on a flat sky.

Star fluxes follow a power law dN/dF ~ F**-alpha between F_min and F_max, drawn by inverting its CDF:

    F = (F_min**(1-alpha) + u * (F_max**(1-alpha) - F_min**(1-alpha)))**(1 / (1-alpha)),  u ~ U(0, 1)

A star of total flux F (DN/s) at pixel centre coordinates (x0, y0) puts into pixel (i, j), which covers
[i - 1/2, i + 1/2] x [j - 1/2, j + 1/2], the integral of a circular Gaussian of width sigma:

    S_ij = F * Px_i * Py_j,   Px_i = [erf((i + 1/2 - x0) / (sqrt(2) sigma)) - erf((i - 1/2 - x0) / (sqrt(2) sigma))] / 2

and likewise Py_j. Each star is rendered only in a stamp of +-(ceil(6 sigma) + 1) pixels, which holds all
but ~1e-8 of its flux; pixels of a stamp that fall off the frame are dropped. The scene rate is

    S = sky + sum over stars of S_ij     [DN/s per pixel]

Coordinates are 0-based with the centre of pixel (0, 0) at x = 0, y = 0 (numpy convention, image[y, x]).
"""

import math

import numpy as np

#: Ratio of a Gaussian's full width at half maximum to its sigma, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: Half-width of the rendering stamp in units of sigma.
STAMP_SIGMAS = 6.0

_erf = np.vectorize(math.erf, otypes=[np.float64])


def power_law_fluxes(rng, n_stars, flux_range, alpha):
    """``n_stars`` fluxes drawn from dN/dF ~ F**-alpha between ``flux_range`` = (F_min, F_max)."""
    low, high = flux_range
    if not 0 < low < high:
        raise ValueError(f"flux range must satisfy 0 < min < max, got {flux_range}")
    u = rng.random(n_stars)
    if math.isclose(alpha, 1.0):
        return low * (high / low) ** u
    exponent = 1.0 - alpha
    return (low**exponent + u * (high**exponent - low**exponent)) ** (1.0 / exponent)


def random_positions(rng, n_stars, shape, margin):
    """Uniform random pixel centre coordinates (x, y) at least ``margin`` pixels inside a frame of ``shape``."""
    ny, nx = shape
    if min(nx, ny) <= 2 * margin:
        raise ValueError(f"a {nx}x{ny} frame has no room for stars {margin} pixels from its edges")
    x = rng.uniform(margin, nx - 1 - margin, n_stars)
    y = rng.uniform(margin, ny - 1 - margin, n_stars)
    return x, y


def stamp_half_width(sigma):
    """Half-width in pixels of the stamp a star of Gaussian width ``sigma`` is rendered in."""
    return math.ceil(STAMP_SIGMAS * sigma) + 1


def pixel_integrated_profile(centres, sigma, half_width):
    """Fraction of a 1-D Gaussian falling in each pixel of a stamp around each of ``centres``.

    Returns the first pixel index of every stamp (n,) and the fractions (n, 2 * half_width + 1).
    """
    first = np.rint(centres).astype(np.int64) - half_width
    edges = first[:, None] + np.arange(2 * half_width + 2) - 0.5
    cumulative = 0.5 * _erf((edges - centres[:, None]) / (math.sqrt(2.0) * sigma))
    return first, np.diff(cumulative, axis=1)


def render_stars(shape, x, y, flux, sigma):
    """Image (float32, DN/s) of stars with pixel-integrated Gaussian PSFs of width ``sigma`` pixels."""
    ny, nx = shape
    half_width = stamp_half_width(sigma)
    x_first, x_profile = pixel_integrated_profile(np.asarray(x, float), sigma, half_width)
    y_first, y_profile = pixel_integrated_profile(np.asarray(y, float), sigma, half_width)
    offsets = np.arange(2 * half_width + 1)
    columns = (x_first[:, None] + offsets)[:, None, :]  # (star, 1, stamp x)
    rows = (y_first[:, None] + offsets)[:, :, None]  # (star, stamp y, 1)
    stamps = np.asarray(flux, float)[:, None, None] * y_profile[:, :, None] * x_profile[:, None, :]
    on_frame = (columns >= 0) & (columns < nx) & (rows >= 0) & (rows < ny)
    pixel_index = np.broadcast_to(rows * nx + columns, stamps.shape)[on_frame]
    image = np.bincount(pixel_index, weights=stamps[on_frame], minlength=nx * ny)
    return image.reshape(shape).astype(np.float32)


def scene_rate(shape, x, y, flux, sigma, sky_rate):
    """The noise-free scene S = sky + stars (float32, DN/s per pixel)."""
    image = render_stars(shape, x, y, flux, sigma)
    image += np.float32(sky_rate)
    return image
