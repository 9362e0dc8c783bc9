"""Saturation flagging of a ramp (before the nonlinearity correction, on the measured group values in DN).

    GROUPDQ[i, g] |= SATURATED | DO_NOT_USE  where SCI[i, g] >= S, and in every later group of integration i
    PIXELDQ |= NO_SAT_CHECK                  where S is not finite (such pixels are not checked)

S is the saturation reference level (DN). Once a group is saturated, later groups of the same integration
are too (the charge only grows until the next reset).

Saturation growth (``n_pix_grow_sat`` = n, jwst's default 1): in each group, every pixel within n pixels in x
and y (a (2n + 1) x (2n + 1) box) of a SATURATED pixel gets SATURATED | DO_NOT_USE too, for the charge that
spills from a full well into its neighbours (as stcal's flag_saturated_pixels).
"""

import numba
import numpy as np

from ..dqflags import pixel
from ..stack import grow_mask

SATURATED_GROUP = np.uint8(pixel["SATURATED"] | pixel["DO_NOT_USE"])


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _flag_saturated(data, groupdq, level, flag):
    nints, ngroups, ny, nx = data.shape
    for y in numba.prange(ny):
        saturated = np.zeros(nx, np.bool_)
        for i in range(nints):
            saturated[:] = False
            for g in range(ngroups):
                for x in range(nx):
                    if saturated[x] or data[i, g, y, x] >= level[y, x]:
                        saturated[x] = True
                        groupdq[i, g, y, x] |= flag


def flag_saturation(data, groupdq, pixeldq, level, n_pix_grow_sat=1):
    """Flag saturated groups of ``data`` [nints, ngroups, ny, nx] in ``groupdq`` and unchecked pixels in
    ``pixeldq``, in place, from the saturation ``level`` [ny, nx] (DN), grown by ``n_pix_grow_sat`` pixels."""
    unchecked = ~np.isfinite(level)
    pixeldq[unchecked] |= pixel["NO_SAT_CHECK"]
    _flag_saturated(data, groupdq, np.asarray(level, np.float32), SATURATED_GROUP)
    if n_pix_grow_sat > 0:
        for integration in groupdq:  # one integration at a time: a boolean cube per group, not per ramp
            saturated = (integration & pixel["SATURATED"]) != 0
            integration[grow_mask(saturated, n_pix_grow_sat)] |= SATURATED_GROUP
    return groupdq
