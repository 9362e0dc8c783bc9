"""Detector1Pipeline: up-the-ramp reads (L0) -> count-rate frame (L1 raw frame) in one process."""

from ..base_step import LigerIrisPipeline
from ..dq_init.dq_init_step import DQInitStep
from ..jump.jump_step import JumpStep
from ..nonlinearity.nonlinearity_step import NonlinearityStep
from ..ramp_fitting.ramp_fit_step import RampFitStep
from ..saturation.saturation_step import SaturationStep

__all__ = ["Detector1Pipeline"]


class Detector1Pipeline(LigerIrisPipeline):
    """dq_init -> saturation -> nonlinearity -> jump -> ramp_fit: the readout processor in software."""

    class_alias = "detector1"
    spec = """
    suffix = string(default='raw')  # The output is the count-rate frame (L1 raw frame)
    """
    step_defs = {
        "dq_init": DQInitStep,
        "saturation": SaturationStep,
        "nonlinearity": NonlinearityStep,
        "jump": JumpStep,
        "ramp_fit": RampFitStep,
    }
