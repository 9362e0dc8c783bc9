"""Dither patterns, pointing errors, the imager's detector layout and residual defects of raw frames.

Dither pattern: an n x n grid (N = n**2 positions, 4 and 9 the usual ones) of commanded offsets of the
boresight, ``step`` pixels apart along the detector's x and y, centred on the target, taken row by row.

Pointing error: the telescope lands at the commanded boresight plus an offset of N(0, sigma) mas east and
N(0, sigma) mas north, and the detector is rotated by U(-r, r) deg about the boresight; the header keeps the
commanded RA_PNT/DEC_PNT and PA_DET, the truth the real ones.

Detector layout: the IRIS imager is a 2 x 2 mosaic of 4096 x 4096 H4RG-10 detectors at 0.004"/pixel, a
34" x 34" field that is not contiguous (TMT, "Infrared Imaging Spectrograph (IRIS)",
https://www.tmt.org/page/iris; Walth et al. 2018, SPIE 10707, arXiv:1808.07495). The sources give no gap
width; ``DEFAULT_GAP_ARCSEC`` is what the 34" field leaves beside two 16.384" detectors. The names IMG1..IMG4
and the order (IMG1 lower left, IMG2 lower right, IMG3 upper left, IMG4 upper right, seen on the detector's
axes) are ours. A detector sits ``offset`` pixels (x, y) from the boresight, rotated ``rotation_deg`` in the
focal plane: detector pixel p lies at focal-plane position offset + R(rotation) (p - centre).

Residual defects, what Detector1 leaves in a count-rate frame for the Level-3 outlier detection to find:

- cosmic rays: hits of 1 to ``MAX_COSMIC_RAY_PIXELS`` 8-connected pixels at random places of one exposure
  only, each depositing log-uniform ``COSMIC_RAY_ELECTRONS`` split at random among its pixels;
- hot pixels: per detector, at pixels no reference flags, a dark rate log-uniform in ``HOT_RATE`` that
  appeared after the dark reference was measured: in every exposure, in neither the mask nor the dark.
"""

import math
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

#: Imager detectors: IRIS a 2 x 2 mosaic (module docstring), Liger one.
DETECTOR_NAMES = {"IRIS": ("IMG1", "IMG2", "IMG3", "IMG4"), "LIGER": ("IMG",)}
#: Gap between neighbouring IRIS detectors: 34" - 2 x 4096 x 0.004" (the sources give the field, not the gap).
DEFAULT_GAP_ARCSEC = 34.0 - 2 * 4096 * 0.004
DEFAULT_DITHER_STEP_ARCSEC = 0.2
#: Default pointing error (sigma per axis) and largest rotation of a dithered observation.
DEFAULT_POINTING_ERROR_MAS = 20.0
DEFAULT_MAX_ROTATION_DEG = 0.01
MAX_COSMIC_RAY_PIXELS = 4
COSMIC_RAY_ELECTRONS = (2.0e3, 2.0e4)
HOT_RATE = (5.0, 50.0)  # DN/s


@dataclass(frozen=True)
class Placement:
    """Where a detector sits in the focal plane: its centre ``offset`` (x, y) pixels from the boresight,
    rotated ``rotation_deg`` about its centre."""

    name: str
    offset: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class Pointing:
    """One exposure's commanded boresight (the header's), the true one, and the true extra rotation."""

    commanded: tuple[float, float]  # (RA, Dec) [deg]
    true: tuple[float, float]
    rotation_deg: float
    error_mas: tuple[float, float]  # (east, north)


def grid_offsets(n_positions, step):
    """Offsets (x, y) in pixels of an n x n dither grid of ``n_positions`` = n**2 positions ``step`` apart."""
    side = math.isqrt(n_positions)
    if side < 2 or side * side != n_positions:
        raise ValueError(f"dither must be a square number of positions >= 4 (4, 9, 16, ...), got {n_positions}")
    steps = (np.arange(side) - (side - 1) / 2.0) * step
    y, x = np.meshgrid(steps, steps, indexing="ij")
    return np.column_stack([x.ravel(), y.ravel()])


def layout(instrument, n_detectors, size, gap_pixels):
    """Placements of the first ``n_detectors`` detectors of ``instrument`` (1, or all of IRIS's 4), ``size``
    pixels on a side and ``gap_pixels`` apart. One detector sits on the boresight."""
    names = DETECTOR_NAMES[instrument]
    if n_detectors == 1:
        return (Placement(names[0]),)
    if n_detectors != len(names) or len(names) != 4:
        raise ValueError(f"{instrument} can simulate 1 detector or all of {', '.join(names)}, got {n_detectors}")
    half = (size + gap_pixels) / 2.0
    corners = ((-half, -half), (half, -half), (-half, half), (half, half))
    return tuple(Placement(name, corner) for name, corner in zip(names, corners))


def pointing_errors(rng, commanded, sigma_mas, max_rotation_deg):
    """The true boresight of each commanded one: offset by N(0, sigma_mas) east and north, rotated by
    U(-max_rotation_deg, max_rotation_deg)."""
    errors = rng.normal(0.0, sigma_mas, (len(commanded), 2)) if sigma_mas else np.zeros((len(commanded), 2))
    rotations = rng.uniform(-max_rotation_deg, max_rotation_deg, len(commanded)) if max_rotation_deg else np.zeros(len(commanded))
    pointings = []
    for (ra, dec), (east, north), rotation in zip(commanded, errors, rotations):
        true = (ra, dec)
        if east or north:
            moved = SkyCoord(ra * u.deg, dec * u.deg).spherical_offsets_by(east * u.mas, north * u.mas)
            true = (float(moved.ra.deg), float(moved.dec.deg))
        pointings.append(Pointing((ra, dec), true, float(rotation), (float(east), float(north))))
    return pointings


def detector_wcs(boresight_wcs, boresight, placement, shape):
    """TAN WCS of a detector of ``shape`` placed by ``placement`` behind the boresight frame ``boresight_wcs``
    (whose reference point ``boresight`` (RA, Dec) is the tangent point of the whole focal plane)."""
    ny, nx = shape
    theta = math.radians(placement.rotation_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    centre = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
    # Detector pixel p is at focal-plane f = offset + R (p - centre); the boresight, f = 0, at p0:
    p0 = centre - rotation.T @ np.asarray(placement.offset, float)
    frame = WCS(naxis=2)
    frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    frame.wcs.cunit = ["deg", "deg"]
    frame.wcs.crval = list(boresight)
    frame.wcs.crpix = list(p0 + 1.0)
    frame.wcs.cd = boresight_wcs.pixel_scale_matrix @ rotation
    frame.wcs.radesys = "ICRS"
    frame.wcs.set()
    return frame


def residual_hot_pixels(rng, n_pixels, candidates):
    """``n_pixels`` distinct flat indices among ``candidates`` and their extra dark rates (DN/s)."""
    if n_pixels > candidates.size:
        raise ValueError(f"residual_hot_pixels: {n_pixels} asked, {candidates.size} unflagged pixels")
    chosen = rng.choice(candidates, n_pixels, replace=False)
    low, high = np.log(HOT_RATE)
    return chosen, np.exp(rng.uniform(low, high, n_pixels))


def cosmic_rays(rng, n_hits, shape, gain, exposure_time):
    """``n_hits`` cosmic rays in a frame of ``shape``: columns hit, x, y (0-based) and rate (DN/s) per pixel."""
    ny, nx = shape
    steps = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy])
    rows = []
    for hit in range(1, n_hits + 1):
        pixel = np.array([rng.integers(nx), rng.integers(ny)])
        track = [tuple(pixel)]
        for _ in range(rng.integers(MAX_COSMIC_RAY_PIXELS)):
            pixel = np.clip(pixel + steps[rng.integers(len(steps))], 0, [nx - 1, ny - 1])
            if tuple(pixel) not in track:
                track.append(tuple(pixel))
        low, high = np.log(COSMIC_RAY_ELECTRONS)
        electrons = np.exp(rng.uniform(low, high)) * rng.dirichlet(np.ones(len(track)))
        rows.extend((hit, x, y, e / (gain * exposure_time)) for (x, y), e in zip(track, electrons))
    hits, x, y, rate = (np.array(column) for column in zip(*rows)) if rows else ([], [], [], [])
    return {"hit": np.asarray(hits, int), "x": np.asarray(x, int), "y": np.asarray(y, int), "rate": np.asarray(rate, float)}
