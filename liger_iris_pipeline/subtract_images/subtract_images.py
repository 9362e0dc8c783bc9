"""Image subtraction: one frame minus another of the same units. The frames are independent, so each
variance component adds:

    SCI_out = SCI_a - SCI_b,   VAR_x_out = VAR_x_a + VAR_x_b  (x = POISSON, RNOISE, FLAT)
    ERR_out = sqrt(VAR_POISSON_out + VAR_RNOISE_out + VAR_FLAT_out),   DQ_out = DQ_a | DQ_b
"""

import numpy as np

from ..variances import total_error


def subtract_images(sci, err, dq, variances, other_sci, other_variances, other_dq):
    """Subtract the other frame from ``sci`` in place, ``variances`` (VAR_POISSON, VAR_RNOISE, VAR_FLAT) summed
    with ``other_variances`` in place, ERR from their total, DQ ORed."""
    sci -= other_sci
    for variance, other in zip(variances, other_variances, strict=True):
        variance += other
    total_error(*variances, out=err)
    np.bitwise_or(dq, other_dq, out=dq, casting="unsafe")
    return sci, err, dq
