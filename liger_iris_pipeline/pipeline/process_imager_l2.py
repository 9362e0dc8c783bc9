"""ProcessImagerL2Pipeline: raw count-rate frame -> calibrated, WCS-tagged L2b frame in one process."""

from ..assign_wcs.assign_wcs_step import AssignWcsStep
from ..base_step import LigerIrisPipeline
from ..dark_current.dark_current_step import DarkCurrentStep
from ..dq_init.dq_init_step import DQInitStep
from ..flat_field.flat_field_step import FlatFieldStep

__all__ = ["ProcessImagerL2Pipeline"]


class ProcessImagerL2Pipeline(LigerIrisPipeline):
    """dq_init -> dark_current -> flat_field -> assign_wcs; each step configurable or skippable by its name."""

    class_alias = "process_imager_l2"
    spec = """
    suffix = string(default='cal')  # The output is the calibrated (L2b) frame
    """
    step_defs = {
        "dq_init": DQInitStep,
        "dark_current": DarkCurrentStep,
        "flat_field": FlatFieldStep,
        "assign_wcs": AssignWcsStep,
    }
