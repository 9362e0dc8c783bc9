"""Background subtraction with separate background (sky) exposures.

The science frame and each background member j (SCI b_j, ERR e_j) are count rates (DN/s: a frame in counts
is converted on reading), so members of any exposure time combine as they are. The background B is the
per-pixel sigma-clipped median of the b_j (``stack.combine_stack``: reject a member where
abs(b_j - median) > sigma x the median of the e_j, and its pixels within ``grow`` pixels, which hold the
faint wings of a rejected star; up to maxiters times), with the error propagated from the members,
ERR_B = k sqrt(sum e_j**2) / n (k = sqrt(pi/2) for n >= 3, else 1), and DQ_B = the OR of the kept members'
DQ, | DO_NOT_USE where none is kept.
Then each science frame gets

    SCI_out = SCI - B,   ERR_out = sqrt(ERR**2 + ERR_B**2),   DQ_out = DQ | DQ_B

Per pixel, because raw frames carry the flat field and the dark current: the sky frame holds F sky + D
at each pixel, so the difference removes both, and the clipping removes the stars of dithered sky frames.
"""

import numpy as np

from ..dqflags import pixel
from ..stack import combine_stack

def combine_background(values, errors, dqs, sigma, maxiters, grow):
    """(B, ERR_B, DQ_B) from the stacked background members (N, ny, nx), all in DN/s."""
    combined = combine_stack(values, errors, dqs, method="median", sigma=sigma, maxiters=maxiters, grow=grow)
    dq = np.bitwise_or.reduce(np.where(combined.kept, dqs, 0).astype(np.uint32), axis=0)
    dq[combined.n_used == 0] |= pixel["DO_NOT_USE"]
    background = np.nan_to_num(combined.value, nan=0.0)
    err = np.nan_to_num(combined.err_propagated, nan=0.0)
    return background, err, dq
