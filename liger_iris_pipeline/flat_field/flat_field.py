"""Flat-field correction, with the variance components of jwst's flat_field.

With the flat's relative response F and its error sigma_F:

    SCI_out         = SCI / F
    VAR_POISSON_out = VAR_POISSON / F**2
    VAR_RNOISE_out  = VAR_RNOISE / F**2
    VAR_FLAT_out    = VAR_FLAT / F**2 + SCI_out**2 (sigma_F / F)**2
    ERR_out         = sqrt(VAR_POISSON_out + VAR_RNOISE_out + VAR_FLAT_out)
    DQ_out          = DQ | DQ_flat

VAR_FLAT is the first-order error of SCI / F through F, as jwst's (which overwrites VAR_FLAT; here an
incoming VAR_FLAT, zero for a raw frame, is divided like the others). Where the flat's DQ has NO_FLAT_FIELD,
or F <= 0 or F is not finite, the pixel cannot be corrected: SCI and the variances are left as they are and
the pixel is flagged NO_FLAT_FIELD | DO_NOT_USE (jwst only leaves it undivided). A non-finite sigma_F adds
no error and flags UNRELIABLE_FLAT.

One pass over the pixels, in float32, in place: no frame-sized temporary (filling fresh memory costs
more than the arithmetic).
"""

import math

import numba
import numpy as np

from ..dqflags import pixel

NO_FLAT_FIELD = np.uint32(pixel["NO_FLAT_FIELD"])
NO_FLAT = np.uint32(pixel["NO_FLAT_FIELD"] | pixel["DO_NOT_USE"])
UNRELIABLE_FLAT = np.uint32(pixel["UNRELIABLE_FLAT"])


@numba.njit(cache=True, error_model="numpy")
def _apply_flat(sci, err, dq, var_poisson, var_rnoise, var_flat, flat, flat_err, flat_dq):
    ny, nx = sci.shape
    one = np.float32(1.0)
    for y in range(ny):
        for x in range(nx):
            response, response_err, flags = flat[y, x], flat_err[y, x], dq[y, x] | flat_dq[y, x]
            if flat_dq[y, x] & NO_FLAT_FIELD or not (math.isfinite(response) and response > 0):
                response, response_err, flags = one, np.float32(0.0), flags | NO_FLAT
            elif not math.isfinite(response_err):
                response_err, flags = np.float32(0.0), flags | UNRELIABLE_FLAT
            value = sci[y, x] / response
            inverse_square = one / (response * response)
            relative_err = response_err / response
            poisson = var_poisson[y, x] * inverse_square
            rnoise = var_rnoise[y, x] * inverse_square
            flat_term = var_flat[y, x] * inverse_square + value * value * relative_err * relative_err
            sci[y, x] = value
            var_poisson[y, x], var_rnoise[y, x], var_flat[y, x] = poisson, rnoise, flat_term
            err[y, x] = np.sqrt(poisson + rnoise + flat_term)
            dq[y, x] = flags


def apply_flat(sci, err, dq, variances, flat, flat_err, flat_dq):
    """Divide ``sci`` by ``flat`` and propagate the ``variances`` (VAR_POISSON, VAR_RNOISE, VAR_FLAT) into them
    and ERR; ``sci``, ``err``, ``dq`` and the variances are updated in place."""
    _apply_flat(sci, err, dq, *variances, flat, flat_err, flat_dq)
    return sci, err, dq
