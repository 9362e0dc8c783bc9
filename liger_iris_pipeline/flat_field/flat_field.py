"""Flat-field correction.

With the flat's relative response F and its error sigma_F:

    SCI_out = SCI / F
    ERR_out = sqrt((ERR / F)**2 + (SCI_out * sigma_F / F)**2)
    DQ_out  = DQ | DQ_flat

Where F <= 0 or F is not finite the pixel cannot be corrected: SCI and ERR are left as they are
and the pixel is flagged NO_FLAT_FIELD | DO_NOT_USE. A non-finite sigma_F adds no error and
flags UNRELIABLE_FLAT.
"""

import numpy as np

from ..dqflags import pixel

NO_FLAT = pixel["NO_FLAT_FIELD"] | pixel["DO_NOT_USE"]


def apply_flat(sci, err, dq, flat, flat_err, flat_dq):
    """Divide ``sci`` by ``flat`` and propagate the errors; arrays are updated in place.

    Reference arrays are only copied where some flat pixel is unusable; one scratch array holds the
    relative flat error term.
    """
    usable = np.isfinite(flat)
    usable &= flat > 0
    if not usable.all():
        flat = np.where(usable, flat, 1)
        dq[~usable] |= NO_FLAT
    unreliable_error = ~np.isfinite(flat_err)
    unreliable_error &= usable
    if unreliable_error.any() or not usable.all():
        flat_err = np.where(usable & ~unreliable_error, flat_err, 0)
        dq[unreliable_error] |= pixel["UNRELIABLE_FLAT"]

    sci /= flat
    term = np.divide(flat_err, flat)  # relative flat error, then the SCI_out * sigma_F / F term
    err /= flat
    np.square(err, out=err)
    term *= sci
    np.square(term, out=term)
    err += term
    np.sqrt(err, out=err)
    np.bitwise_or(dq, flat_dq, out=dq, casting="unsafe")
    return sci, err, dq
