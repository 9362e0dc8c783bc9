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
    """Divide ``sci`` by ``flat`` and propagate the errors; arrays are updated in place."""
    usable = np.isfinite(flat) & (flat > 0)
    if not usable.all():
        flat = np.where(usable, flat, 1)
        dq[~usable] |= NO_FLAT
    unreliable_error = usable & ~np.isfinite(flat_err)
    flat_err = np.where(usable & ~unreliable_error, flat_err, 0)
    dq[unreliable_error] |= pixel["UNRELIABLE_FLAT"]

    sci /= flat
    relative_flat_err = flat_err / flat
    err /= flat
    np.square(err, out=err)
    err += np.square(sci * relative_flat_err)
    np.sqrt(err, out=err)
    np.bitwise_or(dq, flat_dq, out=dq, casting="unsafe")
    return sci, err, dq
