"""The error of a frame from its variance components (plain numpy), as jwst's:

    ERR = sqrt(VAR_POISSON + VAR_RNOISE + VAR_FLAT)

Every step that changes a component recomputes ERR this way, so ERR**2 is always their sum.
"""

import numpy as np

#: The variance arrays of a frame model, as jwst's ImageModel: Poisson, read noise, flat field.
VARIANCE_ARRAYS = ("var_poisson", "var_rnoise", "var_flat")


def frame_variances(model):
    """The (VAR_POISSON, VAR_RNOISE, VAR_FLAT) arrays of a frame model."""
    return tuple(getattr(model, name) for name in VARIANCE_ARRAYS)


def total_error(var_poisson, var_rnoise, var_flat, out=None):
    """sqrt(var_poisson + var_rnoise + var_flat) in float32, into ``out`` (the ERR array) if given."""
    total = np.add(var_poisson, var_rnoise, dtype=np.float32)
    total += var_flat
    return np.sqrt(total, out=out)


def scale_variances(variances, factor):
    """Multiply each of ``variances`` in place by ``factor`` (a frame scaled by s has its variances times s**2)."""
    for variance in variances:
        variance *= variance.dtype.type(factor)
