"""Dark current subtraction for count-rate frames.

The frame and the dark are rates (DN/s), so with the dark rate D and its error sigma_D:

    SCI_out = SCI - D
    ERR_out = sqrt(ERR**2 + sigma_D**2)
    DQ_out  = DQ | DQ_dark

A dark measured as counts C over its own exposure time t_dark is first turned into a rate,
D = C / t_dark and sigma_D = sigma_C / t_dark (see ``dark_rate``). Where D or sigma_D is not finite
the dark is not subtracted and the pixel is flagged UNRELIABLE_DARK | DO_NOT_USE.
"""

import numpy as np

from ..dqflags import pixel

NO_DARK = pixel["UNRELIABLE_DARK"] | pixel["DO_NOT_USE"]


def dark_rate(dark, dark_err, counts_exposure_time=None):
    """Dark rate and error in DN/s: as given for a rate, divided by ``counts_exposure_time`` for counts."""
    if counts_exposure_time is None:
        return dark, dark_err
    if not counts_exposure_time > 0:
        raise ValueError(f"dark exposure time must be positive, got {counts_exposure_time}")
    return dark / np.float32(counts_exposure_time), dark_err / np.float32(counts_exposure_time)


def subtract_dark(sci, err, dq, dark, dark_err, dark_dq):
    """Subtract the dark rate from ``sci`` and add its error in quadrature; arrays are updated in place.

    Reference arrays are only copied where some dark pixel is unusable.
    """
    usable = np.isfinite(dark)
    usable &= np.isfinite(dark_err)
    if not usable.all():
        dark = np.where(usable, dark, 0)
        dark_err = np.where(usable, dark_err, 0)
        dq[~usable] |= NO_DARK
    sci -= dark
    np.square(err, out=err)
    err += np.square(dark_err)
    np.sqrt(err, out=err)
    np.bitwise_or(dq, dark_dq, out=dq, casting="unsafe")
    return sci, err, dq
