"""Dark current subtraction for count-rate frames.

The frame and the dark are rates (DN/s), so with the dark rate D and its error sigma_D:

    SCI_out        = SCI - D
    VAR_RNOISE_out = VAR_RNOISE + sigma_D**2
    ERR_out        = sqrt(VAR_POISSON + VAR_RNOISE_out + VAR_FLAT)
    DQ_out         = DQ | DQ_dark

The dark's error goes to VAR_RNOISE: like read noise it does not depend on the frame's signal (a master
dark's error is mostly the read noise of its exposures), so weights from VAR_RNOISE stay unbiased by the
source. Unlike read noise it is common to every frame that uses the same dark.

A dark measured as counts C over its own exposure time t_dark is first turned into a rate,
D = C / t_dark and sigma_D = sigma_C / t_dark (see ``dark_rate``). Where D or sigma_D is not finite
the dark is not subtracted and the pixel is flagged UNRELIABLE_DARK | DO_NOT_USE.
"""

import math

import numba
import numpy as np

from ..dqflags import pixel

NO_DARK = np.uint32(pixel["UNRELIABLE_DARK"] | pixel["DO_NOT_USE"])


def dark_rate(dark, dark_err, counts_exposure_time=None):
    """Dark rate and error in DN/s: as given for a rate, divided by ``counts_exposure_time`` for counts."""
    if counts_exposure_time is None:
        return dark, dark_err
    if not counts_exposure_time > 0:
        raise ValueError(f"dark exposure time must be positive, got {counts_exposure_time}")
    return dark / np.float32(counts_exposure_time), dark_err / np.float32(counts_exposure_time)


@numba.njit(cache=True, error_model="numpy")
def _subtract_dark(sci, err, dq, var_poisson, var_rnoise, var_flat, dark, dark_err, dark_dq):
    ny, nx = sci.shape
    for y in range(ny):
        for x in range(nx):
            rate, rate_err, flags = dark[y, x], dark_err[y, x], dq[y, x] | dark_dq[y, x]
            if not (math.isfinite(rate) and math.isfinite(rate_err)):
                rate, rate_err, flags = np.float32(0.0), np.float32(0.0), flags | NO_DARK
            sci[y, x] -= rate
            var_rnoise[y, x] += rate_err * rate_err
            err[y, x] = np.sqrt(var_poisson[y, x] + var_rnoise[y, x] + var_flat[y, x])
            dq[y, x] = flags


def subtract_dark(sci, err, dq, variances, dark, dark_err, dark_dq):
    """Subtract the dark rate from ``sci`` and add its variance to VAR_RNOISE of ``variances`` (VAR_POISSON,
    VAR_RNOISE, VAR_FLAT); ``sci``, ``err``, ``dq`` and the variances are updated in place, in one pass with
    no frame-sized temporary."""
    _subtract_dark(sci, err, dq, *variances, dark, dark_err, dark_dq)
    return sci, err, dq
