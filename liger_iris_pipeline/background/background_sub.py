"""Background subtraction with separate background (sky) exposures.

Each background member j (SCI b_j, ERR e_j, exposure time t_j) is first brought to the science frame's
units with a factor f_j: a count rate (BUNIT DN/s) needs none (f_j = 1); counts (BUNIT DN) are scaled to
the science exposure time t, f_j = t / t_j. The background B is the per-pixel sigma-clipped median of the
f_j b_j (``stack.combine_stack``: reject a member where abs(f_j b_j - median) > sigma x the median of the
f_j e_j, and its pixels within ``grow`` pixels, which hold the faint wings of a rejected star; up to
maxiters times), with the error propagated from the members, ERR_B = k sqrt(sum (f_j e_j)**2) / n
(k = sqrt(pi/2) for n >= 3, else 1), and DQ_B = the OR of the kept members' DQ, | DO_NOT_USE where none is kept.
Then each science frame gets

    SCI_out = SCI - B,   ERR_out = sqrt(ERR**2 + ERR_B**2),   DQ_out = DQ | DQ_B

Per pixel, because raw frames carry the flat field and the dark current: the sky frame holds F sky + D
at each pixel, so the difference removes both, and the clipping removes the stars of dithered sky frames.
"""

import numpy as np

from ..dqflags import pixel
from ..stack import combine_stack

RATE_UNITS = ("DN/s", "DN / s")
COUNT_UNITS = ("DN",)


def background_scale(unit, science_exposure_time, background_exposure_time):
    """Factor bringing a background frame in ``unit`` to the science frame (module docstring)."""
    if unit in RATE_UNITS:
        return 1.0
    if unit in COUNT_UNITS:
        if not (science_exposure_time > 0 and background_exposure_time > 0):
            raise ValueError(
                f"counts need positive exposure times, got {science_exposure_time} and {background_exposure_time}"
            )
        return science_exposure_time / background_exposure_time
    raise ValueError(f"BUNIT {unit!r} is neither DN/s nor DN")


def combine_background(values, errors, dqs, scales, sigma, maxiters, grow):
    """(B, ERR_B, DQ_B) from the stacked background members (N, ny, nx) and their factors f_j (N,)."""
    factors = np.asarray(scales, np.float32)[:, None, None]
    combined = combine_stack(
        values * factors, errors * factors, dqs, method="median", sigma=sigma, maxiters=maxiters, grow=grow
    )
    dq = np.bitwise_or.reduce(np.where(combined.kept, dqs, 0).astype(np.uint32), axis=0)
    dq[combined.n_used == 0] |= pixel["DO_NOT_USE"]
    background = np.nan_to_num(combined.value, nan=0.0)
    err = np.nan_to_num(combined.err_propagated, nan=0.0)
    return background, err, dq
