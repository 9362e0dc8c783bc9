"""Image subtraction: one frame minus another of the same units.

    SCI_out = SCI_a - SCI_b,   ERR_out = sqrt(ERR_a**2 + ERR_b**2),   DQ_out = DQ_a | DQ_b
"""

import numpy as np


def subtract_images(sci, err, dq, other_sci, other_err, other_dq):
    """Subtract the other frame from ``sci`` in place, errors in quadrature, DQ ORed."""
    sci -= other_sci
    np.square(err, out=err)
    err += np.square(other_err, dtype=np.float32)
    np.sqrt(err, out=err)
    np.bitwise_or(dq, other_dq, out=dq, casting="unsafe")
    return sci, err, dq
