"""Up-the-ramp reads of the simulated detector: what the H4RG/H2RG delivers before the readout processor.

An integration starts at a reset and reads the detector every ``frame_time`` seconds. Frame k (0-based)
holds the charge of (k + 1) frame times. Groups are NFRAMES consecutive frames averaged, GROUPGAP frames
apart, so group j starts at frame j (NFRAMES + GROUPGAP) and TGROUP = (NFRAMES + GROUPGAP) TFRAME. Read
modes: CDS (2 groups of 1 frame), MCDS (Fowler: 2 groups of NFRAMES frames) and UTR (NGROUPS >= 2).

Per pixel, with true rate R (DN/s), gain g (e-/DN), per-read noise r (DN), nonlinearity b (1/DN) and
saturation level S (DN):

    Q_k = sum_{i <= k} Poisson(g R TFRAME) + (cosmic-ray electrons deposited at frames <= k)   [e-]
    L_k = Q_k / g                               linear signal [DN]
    M_k = min(L_k (1 - b L_k) + r N(0, 1), S)   measured read [DN]: nonlinear, read noise, then hard
                                                saturation (ADC / full well), so a saturated read equals S

A cosmic ray hits a fraction ``cosmic_ray_fraction`` of the pixels once per integration, at a uniformly
drawn frame after the first group, depositing log-uniform [200, 5000) DN of charge.

References (written by ``simulate.py``): SATURATION = S; NONLINEARITY = the series inverse of the curve,
L = M + b M**2 + 2 b**2 M**3 + 5 b**3 M**4 (coefficients c_k = Catalan(k - 1) b**(k - 1); the truncated
term 14 b**4 M**5 is below 2e-4 of L up to saturation); READNOISE = the CDS noise sqrt(2) r (the noise of
the difference of two reads, as in JWST); GAIN = g.
"""

from dataclasses import dataclass

import numpy as np

READ_MODES = ("CDS", "MCDS", "UTR")
#: Mean saturation level [DN] and its pixel-to-pixel scatter (relative).
SATURATION_LEVEL = (50000.0, 0.02)
#: Nonlinearity: fractional signal deficit b L at L = 50000 DN, uniform in this range per pixel.
NONLINEARITY_AT_50000 = (0.04, 0.06)
#: Pixel-to-pixel scatter (relative) of the gain and of the read noise.
GAIN_SCATTER, READ_NOISE_SCATTER = 0.02, 0.05
COSMIC_RAY_DN = (200.0, 5000.0)
#: Coefficients of the series inverse of M = L (1 - b L), lowest order first, as multiples of b**(k - 1).
INVERSE_SERIES = (0.0, 1.0, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class RampReadout:
    """How an exposure is read: mode, groups, frames per group, skipped frames, frame time [s], integrations."""

    readmode: str = "UTR"
    ngroups: int = 10
    nframes: int = 1
    groupgap: int = 0
    frame_time: float = 10.0
    nints: int = 1
    cosmic_ray_fraction: float = 1e-3

    def __post_init__(self):
        checks = (
            ("readmode", self.readmode in READ_MODES, f"one of {', '.join(READ_MODES)}"),
            ("ngroups", self.ngroups >= 2, ">= 2"),
            ("nframes", self.nframes >= 1, ">= 1"),
            ("groupgap", self.groupgap >= 0, ">= 0"),
            ("frame_time", self.frame_time > 0, "> 0"),
            ("nints", self.nints >= 1, ">= 1"),
            ("cosmic_ray_fraction", 0 <= self.cosmic_ray_fraction <= 1, "within [0, 1]"),
        )
        for name, valid, requirement in checks:
            if not valid:
                raise ValueError(f"ramp {name} must be {requirement}, got {getattr(self, name)!r}")
        if self.readmode in ("CDS", "MCDS") and self.ngroups != 2:
            raise ValueError(f"ramp readmode {self.readmode} reads 2 groups, got ngroups={self.ngroups}")
        if self.readmode == "CDS" and self.nframes != 1:
            raise ValueError(f"ramp readmode CDS reads 1 frame per group, got nframes={self.nframes}")

    @property
    def group_time(self):
        return (self.nframes + self.groupgap) * self.frame_time

    @property
    def integration_time(self):
        """Effective integration time: from the first group to the last [s]."""
        return (self.ngroups - 1) * self.group_time


@dataclass
class RampDetector:
    """True per-pixel readout properties (float32 maps)."""

    gain: np.ndarray  # e-/DN
    read_noise: np.ndarray  # per read [DN]
    saturation: np.ndarray  # DN
    nonlinearity: np.ndarray  # b [1/DN]

    def nonlinearity_coefficients(self):
        """[5, ny, nx] float32 coefficients of the correction polynomial, lowest order first."""
        b = self.nonlinearity.astype(np.float64)
        return np.stack([factor * b ** max(order - 1, 0) for order, factor in enumerate(INVERSE_SERIES)]).astype(np.float32)


def make_ramp_detector(rng, shape, gain, read_noise):
    """Draw the per-pixel gain, per-read noise, saturation level and nonlinearity around the nominal values."""

    def scattered(value, scatter):
        return (value * (1.0 + scatter * rng.standard_normal(shape))).astype(np.float32)

    deficit = rng.uniform(*NONLINEARITY_AT_50000, shape)
    return RampDetector(
        gain=scattered(gain, GAIN_SCATTER),
        read_noise=scattered(read_noise, READ_NOISE_SCATTER),
        saturation=scattered(SATURATION_LEVEL[0], SATURATION_LEVEL[1]),
        nonlinearity=(deficit / 50000.0).astype(np.float32),
    )


def simulate_ramp(rng, rate, readout, ramp_detector):
    """Reads of every integration of a pixel-rate map ``rate`` (DN/s): groups float32 [nints, ngroups, ny, nx]
    and the cosmic rays as a dict of arrays (integration, x, y, frame, group, dn)."""
    shape = rate.shape
    gain = ramp_detector.gain.astype(np.float64)
    electrons_per_frame = np.maximum(rate, 0).astype(np.float64) * gain * readout.frame_time
    frames_per_group = readout.nframes + readout.groupgap
    n_frames = (readout.ngroups - 1) * frames_per_group + readout.nframes
    groups = np.zeros((readout.nints, readout.ngroups, *shape), np.float32)
    cosmic_rays = {key: [] for key in ("integration", "x", "y", "frame", "group", "dn")}
    for integration in range(readout.nints):
        hits = np.flatnonzero(rng.random(shape[0] * shape[1]) < readout.cosmic_ray_fraction)
        hit_frames = rng.integers(readout.nframes, n_frames, hits.size)
        hit_dn = np.exp(rng.uniform(*np.log(COSMIC_RAY_DN), hits.size))
        charge = np.zeros(shape, np.float64)
        for frame in range(n_frames):
            charge += rng.poisson(electrons_per_frame)
            now = hits[hit_frames == frame]
            charge.reshape(-1)[now] += hit_dn[hit_frames == frame] * gain.reshape(-1)[now]
            group, position = divmod(frame, frames_per_group)
            if position >= readout.nframes:
                continue  # a skipped frame (GROUPGAP)
            linear = charge / gain
            measured = linear * (1.0 - ramp_detector.nonlinearity * linear)
            measured += ramp_detector.read_noise * rng.standard_normal(shape)
            np.minimum(measured, ramp_detector.saturation, out=measured)
            groups[integration, group] += (measured / readout.nframes).astype(np.float32)
        y, x = np.unravel_index(hits, shape)
        first_group = -(-hit_frames // frames_per_group)  # the first group whose frames all hold the charge
        for key, values in zip(cosmic_rays, (np.full(hits.size, integration), x, y, hit_frames, first_group, hit_dn)):
            cosmic_rays[key].append(values)
    return groups, {key: np.concatenate(values) for key, values in cosmic_rays.items()}
