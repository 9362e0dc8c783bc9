"""The simulated detector: true flat field, true dark rate, bad pixels and the noise of a count-rate frame.

True flat (relative response, normalised to mean 1 before the bad pixels are set):

    flat = L(u, v) * (1 + 0.01 * N(0, 1))
    L(u, v) = 1 + t_x u + t_y v - 0.03 (u**2 + v**2) + 0.01 cos(pi (k_x u + k_y v) + phi)

with u, v in [-1, 1] across the frame, a random tilt t ~ U(-0.015, 0.015), wave numbers k ~ U(0.5, 2) and
phase phi ~ U(0, 2 pi). LOW_QE pixels respond U(0.25, 0.35), DEAD pixels 0.

True dark rate: U(0.01, 0.05) DN/s everywhere, warm pixels log-uniform in [0.5, 5) DN/s and hot pixels
log-uniform in [5, 50) DN/s. Dead, low-QE, hot and warm pixels are distinct.

Noise of a frame of rate R (DN/s) integrated for t seconds with gain g (e-/DN) and read noise r (DN):

    raw = Poisson(g R t) / (g t) + (r / t) N(0, 1)
    var_poisson = max(raw, 0) / (g t),   var_rnoise = (r / t)**2,   err = sqrt(var_poisson + var_rnoise)

These are what the readout processor estimates from the frame itself (VAR_POISSON, VAR_RNOISE, ERR; VAR_FLAT 0).
"""

from dataclasses import dataclass

import numpy as np

from ..dqflags import pixel

#: Bad pixels per million pixels, and the fewest of each kind in any frame.
BAD_PIXELS_PER_MEGAPIXEL = {"dead": 10, "low_qe": 20, "hot": 10, "warm": 50}
MIN_BAD_PIXELS = 5

LOW_QE_RESPONSE = (0.25, 0.35)
DARK_RATE = (0.01, 0.05)  # DN/s
WARM_RATE = (0.5, 5.0)  # DN/s
HOT_RATE = (5.0, 50.0)  # DN/s


@dataclass
class Detector:
    """True properties of one detector: flat (relative response), dark rate (DN/s) and bad-pixel flags."""

    flat: np.ndarray
    dark: np.ndarray
    mask_dq: np.ndarray  # DEAD|DO_NOT_USE, LOW_QE, HOT flags, as the bad pixel mask carries them
    dark_dq: np.ndarray  # HOT and WARM flags, as the dark reference carries them


def bad_pixel_indices(rng, n_pixels, per_megapixel=None):
    """Distinct flat indices of dead, low-QE, hot and warm pixels, keyed by kind; ``per_megapixel`` overrides
    the densities of ``BAD_PIXELS_PER_MEGAPIXEL`` by kind."""
    densities = {**BAD_PIXELS_PER_MEGAPIXEL, **(per_megapixel or {})}
    counts = {kind: max(MIN_BAD_PIXELS, round(density * n_pixels / 1e6)) for kind, density in densities.items()}
    chosen = rng.choice(n_pixels, sum(counts.values()), replace=False)
    bounds = np.cumsum([0, *counts.values()])
    return {kind: chosen[start:stop] for kind, start, stop in zip(counts, bounds[:-1], bounds[1:])}


def large_scale_response(rng, shape):
    """The smooth illumination/response pattern L(u, v) of the flat, float32."""
    ny, nx = shape
    u = np.linspace(-1.0, 1.0, nx, dtype=np.float32)[None, :]
    v = np.linspace(-1.0, 1.0, ny, dtype=np.float32)[:, None]
    tilt_x, tilt_y = rng.uniform(-0.015, 0.015, 2)
    wave_x, wave_y = rng.uniform(0.5, 2.0, 2)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    ripple_x = np.float32(np.pi * wave_x) * u
    ripple_y = np.float32(np.pi * wave_y) * v
    pattern = np.cos(ripple_x + ripple_y + np.float32(phase))  # the only full-size temporary
    pattern *= np.float32(0.01)
    pattern += 1.0 + np.float32(tilt_x) * u + np.float32(tilt_y) * v - np.float32(0.03) * (u * u + v * v)
    return pattern


def log_uniform(rng, value_range, size):
    """``size`` values uniform in log between ``value_range`` = (low, high)."""
    low, high = np.log(value_range)
    return np.exp(rng.uniform(low, high, size))


def make_detector(rng, shape, bad_pixels_per_megapixel=None):
    """Draw the true flat, dark rate and bad pixels of a detector of ``shape`` (densities: ``bad_pixel_indices``)."""
    n_pixels = shape[0] * shape[1]
    bad = bad_pixel_indices(rng, n_pixels, bad_pixels_per_megapixel)

    flat = large_scale_response(rng, shape)
    flat *= 1.0 + np.float32(0.01) * rng.standard_normal(shape, dtype=np.float32)
    flat /= flat.mean(dtype=np.float64)
    flat_1d = flat.reshape(-1)
    flat_1d[bad["low_qe"]] = rng.uniform(*LOW_QE_RESPONSE, bad["low_qe"].size)
    flat_1d[bad["dead"]] = 0.0

    dark = rng.random(shape, dtype=np.float32)
    dark *= np.float32(DARK_RATE[1] - DARK_RATE[0])
    dark += np.float32(DARK_RATE[0])
    dark_1d = dark.reshape(-1)
    dark_1d[bad["warm"]] = log_uniform(rng, WARM_RATE, bad["warm"].size)
    dark_1d[bad["hot"]] = log_uniform(rng, HOT_RATE, bad["hot"].size)

    mask_dq = np.zeros(n_pixels, np.uint32)
    mask_dq[bad["dead"]] = pixel["DEAD"] | pixel["DO_NOT_USE"]
    mask_dq[bad["low_qe"]] = pixel["LOW_QE"]
    mask_dq[bad["hot"]] = pixel["HOT"]
    dark_dq = np.zeros(n_pixels, np.uint32)
    dark_dq[bad["hot"]] = pixel["HOT"]
    dark_dq[bad["warm"]] = pixel["WARM"]
    return Detector(flat, dark, mask_dq.reshape(shape), dark_dq.reshape(shape))


def add_noise(rng, rate, exposure_time, gain, read_noise):
    """A noisy count-rate frame (float32, DN/s) from the noise-free rate: Poisson electrons plus read noise."""
    electrons_per_rate = gain * exposure_time
    electrons = rng.poisson(rate.astype(np.float64) * electrons_per_rate)
    raw = (electrons / electrons_per_rate).astype(np.float32)
    del electrons  # 8 bytes a pixel: free it before drawing the read noise
    raw += np.float32(read_noise / exposure_time) * rng.standard_normal(rate.shape, dtype=np.float32)
    return raw


def rate_variances(raw, exposure_time, gain, read_noise):
    """Poisson and read-noise variances (float32, (DN/s)**2) of a count-rate frame, estimated from the frame
    itself: its VAR_POISSON and VAR_RNOISE (ERR is the square root of their sum)."""
    var_poisson = np.maximum(raw, 0) / np.float32(gain * exposure_time)
    var_rnoise = np.full(raw.shape, (read_noise / exposure_time) ** 2, np.float32)
    return var_poisson, var_rnoise


def measured(rng, true_values, sigma):
    """A reference measurement of ``true_values``: adds N(0, sigma) noise (float32)."""
    return true_values + np.float32(sigma) * rng.standard_normal(true_values.shape, dtype=np.float32)
