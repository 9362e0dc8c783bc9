"""Flat combination: normalised flat exposures -> one pixel flat (relative response, mean 1).

Per pixel, with the normalised exposures x_i and their errors e_i, ``stack.combine_stack`` gives the
sigma-clipped mean or median R, its error from the scatter of the kept exposures and the excess scatter
s / rms(e_i). Then, with G the pixels where R >= low_response:

    F     = R / mean over G of R,      ERR_F = ERR_R / mean over G of R      (F has mean 1 over G)
    NO_FLAT_FIELD | DO_NOT_USE  where R < low_response or no exposure is usable; F is set to 0 there, so
                                the flat-field step leaves those pixels uncorrected
    UNRELIABLE_FLAT             where the excess scatter > unreliable_ratio (the exposures disagree more
                                than their noise allows)
"""

import numpy as np

from ..dqflags import pixel
from ..stack import combine_stack

NO_FLAT = pixel["NO_FLAT_FIELD"] | pixel["DO_NOT_USE"]


def combine_flats(values, errors, dqs, method, sigma, maxiters, low_response, unreliable_ratio):
    """(flat, err, dq) from the stacked normalised exposures (N, ny, nx)."""
    combined = combine_stack(values, errors, dqs, method=method, sigma=sigma, maxiters=maxiters)
    response, err = combined.value, combined.err
    with np.errstate(invalid="ignore"):
        no_flat = ~(response >= low_response)  # also NaN: no usable exposure
        unreliable = combined.excess_scatter > unreliable_ratio
    if no_flat.all():
        raise ValueError(f"no pixel has a response >= {low_response}")
    scale = response[~no_flat].mean(dtype=np.float64)
    flat = np.where(no_flat, 0.0, response / scale).astype(np.float32)
    err = np.where(no_flat, 0.0, err / scale).astype(np.float32)
    dq = np.zeros(flat.shape, np.uint32)
    dq[no_flat] |= NO_FLAT
    dq[unreliable] |= pixel["UNRELIABLE_FLAT"]
    return flat, err, dq
