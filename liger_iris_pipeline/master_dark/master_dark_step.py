"""MasterDarkStep: combine dark exposures into a DarkModel reference (rate in DN/s)."""

import logging

import numpy as np

from .. import units
from ..datamodels import DarkModel, dqflags
from ..reference_product import ReferenceProductStep, member_arrays
from .master_dark import combine_darks

__all__ = ["MasterDarkStep"]

log = logging.getLogger(__name__)


class MasterDarkStep(ReferenceProductStep):
    """Sigma-clipped combination of the dark exposures of an association (or a list) into a dark rate.

    ERR comes from the scatter of the exposures; DQ flags HOT, WARM and unstable (UNRELIABLE_DARK) pixels
    by the thresholds of the .cfg. The product is a valid ``dark`` reference (BUNIT DN/s, USEAFTER the first
    exposure's start) for ``crds_add_references``; ``reference_names.reference_file_name`` names it.
    """

    class_alias = "master_dark"
    shared_meta = ReferenceProductStep.shared_meta + ("exposure.readmode",)
    spec = """
    suffix = string(default='masterdark')  # Master dark (a dark reference)
    method = option('median', 'mean', default='median')  # Per-pixel combination of the exposures
    sigma = float(default=5.0)  # Reject an exposure's pixel further than sigma x its ERR from the median
    maxiters = integer(default=5)  # Rejection iterations
    hot_threshold = float(default=5.0)  # DN/s; a pixel at or above is HOT
    warm_threshold = float(default=0.5)  # DN/s; a pixel at or above (and below hot) is WARM
    unstable_ratio = float(default=3.0)  # Scatter / expected noise above which a pixel is UNRELIABLE_DARK
    """

    def process(self, frames):
        members = self.open_members(frames)
        rate, err, dq = combine_darks(
            *member_arrays(members),
            self.method,
            self.sigma,
            self.maxiters,
            self.hot_threshold,
            self.warm_threshold,
            self.unstable_ratio,
        )
        dark = DarkModel(data=rate, err=err, dq=dq)
        dark.meta.bunit_data = dark.meta.bunit_err = units.RATE
        self.describe_product(dark, members, f"Master dark: {self.method} of {len(members)} dark exposures")
        for flag in ("HOT", "WARM", "UNRELIABLE_DARK"):
            log.info("%s: %d pixels", flag, np.count_nonzero(dq & dqflags.pixel[flag]))
        self.record(dark, "COMPLETE")
        return dark
