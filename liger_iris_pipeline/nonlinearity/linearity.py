"""Nonlinearity correction of a ramp: make every measured group value M (DN) linear in the charge.

    SCI[i, g] = sum_k c_k M**k     (Horner's scheme, c_k from the nonlinearity reference, lowest order first)

Groups flagged SATURATED are left as they are (the polynomial is not valid there). Pixels whose
coefficients are not all finite, or flagged NO_LIN_CORR in the reference, are not corrected and get
NO_LIN_CORR in PIXELDQ.
"""

import numba
import numpy as np

from ..dqflags import pixel


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _correct(data, groupdq, coeffs, correctable, saturated_flag):
    nints, ngroups, ny, nx = data.shape
    ncoeffs = coeffs.shape[0]
    for y in numba.prange(ny):
        linear = np.empty(nx, np.float32)
        for i in range(nints):
            for g in range(ngroups):
                values, flags = data[i, g, y], groupdq[i, g, y]
                # Horner's scheme a coefficient at a time over the row, and no branch: vectorised.
                linear[:] = coeffs[ncoeffs - 1, y]
                for k in range(ncoeffs - 2, -1, -1):
                    row = coeffs[k, y]
                    for x in range(nx):
                        linear[x] = linear[x] * values[x] + row[x]
                for x in range(nx):
                    keep = not correctable[y, x] or (flags[x] & saturated_flag) != 0
                    values[x] = values[x] if keep else linear[x]


def correct_nonlinearity(data, groupdq, pixeldq, coeffs, reference_dq):
    """Linearise ``data`` [nints, ngroups, ny, nx] in place with ``coeffs`` [ncoeffs, ny, nx]; flag the
    pixels left uncorrected in ``pixeldq``."""
    correctable = np.all(np.isfinite(coeffs), axis=0) & ((reference_dq & pixel["NO_LIN_CORR"]) == 0)
    pixeldq[~correctable] |= pixel["NO_LIN_CORR"]
    _correct(data, groupdq, np.asarray(coeffs, np.float32), correctable, np.uint8(pixel["SATURATED"]))
    return data
