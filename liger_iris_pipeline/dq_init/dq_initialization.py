"""DQ initialisation: start a frame's DQ from the bad pixel mask.

    DQ_out = DQ_in | MASK
    DQ_out |= DO_NOT_USE  where SCI is not finite (pixels the readout processor could not measure)

A ramp:

    PIXELDQ |= MASK
    GROUPDQ |= DO_NOT_USE  on every group that is not finite
"""

import numpy as np

from ..dqflags import pixel


def initialize_dq(sci, dq, mask_dq):
    """OR ``mask_dq`` into ``dq`` and flag non-finite ``sci`` as DO_NOT_USE; ``dq`` is updated in place."""
    np.bitwise_or(dq, mask_dq, out=dq, casting="unsafe")
    dq[~np.isfinite(sci)] |= pixel["DO_NOT_USE"]
    return dq


def initialize_ramp_dq(groups, groupdq, pixeldq, mask_dq):
    """OR ``mask_dq`` into ``pixeldq`` and flag non-finite ``groups`` DO_NOT_USE in ``groupdq``, in place."""
    np.bitwise_or(pixeldq, mask_dq, out=pixeldq, casting="unsafe")
    for group, flags in zip(groups.reshape(-1, *groups.shape[-2:]), groupdq.reshape(-1, *groupdq.shape[-2:])):
        flags[~np.isfinite(group)] |= pixel["DO_NOT_USE"]  # one group at a time: no ramp-sized temporary
    return pixeldq
