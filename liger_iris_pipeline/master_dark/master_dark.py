"""Master dark: combine N dark exposures (count rates, DN/s) into a dark rate reference.

Per pixel, with the dark rates x_i and their errors e_i of the N exposures, ``stack.combine_stack``
gives the sigma-clipped mean or median D, its error from the scatter of the kept exposures
(ERR = k s / sqrt(n), k = 1 for the mean, sqrt(pi/2) for the median) and the excess scatter
s / rms(e_i). The DQ flags:

    HOT              where D >= hot_threshold
    WARM             where warm_threshold <= D < hot_threshold
    UNRELIABLE_DARK  where the excess scatter > unstable_ratio (a pixel noisier than its own ERR says:
                     random telegraph noise, unstable dark current)
    UNRELIABLE_DARK | DO_NOT_USE where no exposure is usable (D is NaN there)
"""

import numpy as np

from ..dqflags import pixel
from ..stack import combine_stack

NO_DARK = pixel["UNRELIABLE_DARK"] | pixel["DO_NOT_USE"]


def dark_flags(rate, excess_scatter, hot_threshold, warm_threshold, unstable_ratio):
    """DQ (uint32) of a dark rate by the thresholds of the module docstring."""
    if not 0 < warm_threshold <= hot_threshold:
        raise ValueError(f"need 0 < warm_threshold <= hot_threshold, got {warm_threshold} and {hot_threshold}")
    dq = np.zeros(rate.shape, np.uint32)
    with np.errstate(invalid="ignore"):
        dq[rate >= hot_threshold] |= pixel["HOT"]
        dq[(rate >= warm_threshold) & (rate < hot_threshold)] |= pixel["WARM"]
        dq[excess_scatter > unstable_ratio] |= pixel["UNRELIABLE_DARK"]
    dq[~np.isfinite(rate)] |= NO_DARK
    return dq


def combine_darks(rates, errors, dqs, method, sigma, maxiters, hot_threshold, warm_threshold, unstable_ratio):
    """(rate, err, dq) of the master dark from the stacked exposures (N, ny, nx)."""
    combined = combine_stack(rates, errors, dqs, method=method, sigma=sigma, maxiters=maxiters)
    dq = dark_flags(combined.value, combined.excess_scatter, hot_threshold, warm_threshold, unstable_ratio)
    return combined.value, combined.err, dq
