"""Flat-field correction.

With the flat's relative response F and its error sigma_F:

    SCI_out = SCI / F
    ERR_out = sqrt((ERR / F)**2 + (SCI_out * sigma_F / F)**2)
    DQ_out  = DQ | DQ_flat

Where F <= 0 or F is not finite the pixel cannot be corrected: SCI and ERR are left as they are
and the pixel is flagged NO_FLAT_FIELD | DO_NOT_USE. A non-finite sigma_F adds no error and
flags UNRELIABLE_FLAT.

One pass over the pixels, in float32, in place: no frame-sized temporary (filling fresh memory costs
more than the arithmetic).
"""

import math

import numba
import numpy as np

from ..dqflags import pixel

NO_FLAT = np.uint32(pixel["NO_FLAT_FIELD"] | pixel["DO_NOT_USE"])
UNRELIABLE_FLAT = np.uint32(pixel["UNRELIABLE_FLAT"])


@numba.njit(cache=True, error_model="numpy")
def _apply_flat(sci, err, dq, flat, flat_err, flat_dq):
    ny, nx = sci.shape
    one = np.float32(1.0)
    for y in range(ny):
        for x in range(nx):
            response, response_err, flags = flat[y, x], flat_err[y, x], dq[y, x] | flat_dq[y, x]
            if not (math.isfinite(response) and response > 0):
                response, response_err, flags = one, np.float32(0.0), flags | NO_FLAT
            elif not math.isfinite(response_err):
                response_err, flags = np.float32(0.0), flags | UNRELIABLE_FLAT
            value = sci[y, x] / response
            error = err[y, x] / response
            term = response_err / response * value
            sci[y, x] = value
            err[y, x] = np.sqrt(error * error + term * term)
            dq[y, x] = flags


def apply_flat(sci, err, dq, flat, flat_err, flat_dq):
    """Divide ``sci`` by ``flat`` and propagate the errors; ``sci``, ``err``, ``dq`` are updated in place."""
    _apply_flat(sci, err, dq, flat, flat_err, flat_dq)
    return sci, err, dq
