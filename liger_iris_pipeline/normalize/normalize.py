"""Normalisation of a frame by its own level.

With the good pixels G (DQ == 0 and SCI finite) and the statistic L of SCI over G (``method``):

    mean    L = sum over G of SCI / |G|
    median  L = the median of SCI over G
    mode    L = the half-sample mode of SCI over G (Bickel & Fruehwirth 2006): sort the values; while more
            than three remain, keep the ceil(n / 2) consecutive ones spanning the smallest range; with
            three, keep the closer pair (the middle value on a tie); L = the mean of the one or two left.
            Robust and binless: it finds the densest part of the distribution.

    SCI_out = SCI / L,   ERR_out = ERR / L,   VAR_x_out = VAR_x / L**2,   DQ unchanged
"""

import math

import numpy as np

from ..variances import scale_variances

METHODS = ("mean", "median", "mode")


def half_sample_mode(values):
    """The half-sample mode of ``values`` (1-D, finite, at least one)."""
    x = np.sort(np.asarray(values, np.float64).ravel())
    while x.size > 3:
        half = math.ceil(x.size / 2)
        widths = x[half - 1 :] - x[: x.size - half + 1]
        start = int(np.argmin(widths))
        x = x[start : start + half]
    if x.size == 3:
        low, high = x[1] - x[0], x[2] - x[1]
        x = x[:2] if low < high else x[1:] if high < low else x[1:2]
    return float(x.mean())


def frame_level(sci, dq, method):
    """The statistic ``method`` of ``sci`` over its good pixels (DQ == 0, finite)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    good = sci[(dq == 0) & np.isfinite(sci)]
    if good.size == 0:
        raise ValueError("no good pixels (DQ == 0) to normalise by")
    if method == "mean":
        return float(good.mean(dtype=np.float64))
    if method == "median":
        return float(np.median(good))
    return half_sample_mode(good)


def normalize(sci, err, dq, method, variances=()):
    """Divide ``sci`` and ``err`` in place by the frame's level, and ``variances`` by its square; returns the level."""
    level = frame_level(sci, dq, method)
    if not level > 0:
        raise ValueError(f"the {method} of the good pixels is {level}, not positive")
    sci /= np.float32(level)
    err /= np.float32(level)
    scale_variances(variances, level**-2)
    return level
