"""Background subtraction with separate background (sky) exposures.

The science frame and each background member j (SCI b_j, ERR e_j) are count rates (DN/s: a frame in counts
is converted on reading), so members of any exposure time combine as they are. The background B is the
per-pixel sigma-clipped median of the b_j (``stack.combine_stack``: reject a member where
abs(b_j - median) > sigma x the median of the e_j, and its pixels within ``grow`` pixels, which hold the
faint wings of a rejected star; up to maxiters times), with each variance component propagated from the kept
members (``stack.combine_variances``: VAR_POISSON and VAR_RNOISE as independent, k**2 sum v_j / n**2 with
k = sqrt(pi/2) for n >= 3, else 1; VAR_FLAT as common to the members), and DQ_B = the OR of the kept
members' DQ, | DO_NOT_USE where none is kept. Then each science frame gets

    SCI_out = SCI - B,   VAR_x_out = VAR_x + VAR_x_B,   ERR_out = sqrt(sum of VAR_x_out),   DQ_out = DQ | DQ_B

Per pixel, because raw frames carry the flat field and the dark current: the sky frame holds F sky + D
at each pixel, so the difference removes both, and the clipping removes the stars of dithered sky frames.
"""

import numpy as np

from ..dqflags import pixel
from ..stack import combine_stack, combine_variances

#: Which of (VAR_POISSON, VAR_RNOISE, VAR_FLAT) is common to the members (the flat's error).
COMMON_VARIANCES = (False, False, True)


def combine_background(values, errors, dqs, variances, sigma, maxiters, grow):
    """(B, (VAR_POISSON_B, VAR_RNOISE_B, VAR_FLAT_B), DQ_B) from the stacked background members (N, ny, nx), all
    in DN/s; ``variances`` are the members' three stacked components."""
    combined = combine_stack(values, errors, dqs, method="median", sigma=sigma, maxiters=maxiters, grow=grow)
    dq = np.bitwise_or.reduce(np.where(combined.kept, dqs, 0).astype(np.uint32), axis=0)
    dq[combined.n_used == 0] |= pixel["DO_NOT_USE"]
    background = np.nan_to_num(combined.value, nan=0.0)
    background_variances = tuple(
        np.nan_to_num(combine_variances(variance, combined.kept, "median", common), nan=0.0)
        for variance, common in zip(variances, COMMON_VARIANCES, strict=True)
    )
    return background, background_variances, dq
