"""DQ initialisation: start a frame's DQ from the bad pixel mask.

    DQ_out = DQ_in | MASK
    DQ_out |= DO_NOT_USE  where SCI is not finite (pixels the readout processor could not measure)
"""

import numpy as np

from ..dqflags import pixel


def initialize_dq(sci, dq, mask_dq):
    """OR ``mask_dq`` into ``dq`` and flag non-finite ``sci`` as DO_NOT_USE; ``dq`` is updated in place."""
    np.bitwise_or(dq, mask_dq, out=dq, casting="unsafe")
    dq[~np.isfinite(sci)] |= pixel["DO_NOT_USE"]
    return dq
