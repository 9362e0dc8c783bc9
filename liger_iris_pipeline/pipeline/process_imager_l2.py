"""ProcessImagerL2Pipeline: raw count-rate frame -> calibrated, WCS-tagged L2b frame in one process."""

from ..assign_wcs.assign_wcs_step import AssignWcsStep
from ..background.background_step import BackgroundStep
from ..base_step import LigerIrisPipeline
from ..dark_current.dark_current_step import DarkCurrentStep
from ..dq_init.dq_init_step import DQInitStep
from ..flat_field.flat_field_step import FlatFieldStep

__all__ = ["ProcessImagerL2Pipeline"]


class ProcessImagerL2Pipeline(LigerIrisPipeline):
    """[background ->] dq_init -> dark_current -> flat_field -> assign_wcs; each step configurable or skippable
    by its name.

    Given an association whose product has background members (or, from Python, a list of background
    frames as second argument), the background step subtracts them first; dark_current is then SKIPPED,
    since the background exposures carried the same dark current. Without background members the
    background step does not run.
    """

    class_alias = "process_imager_l2"
    spec = """
    suffix = string(default='cal')  # The output is the calibrated (L2b) frame
    """
    uses_background = True
    step_defs = {
        "background": BackgroundStep,
        "dq_init": DQInitStep,
        "dark_current": DarkCurrentStep,
        "flat_field": FlatFieldStep,
        "assign_wcs": AssignWcsStep,
    }
