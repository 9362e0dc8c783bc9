"""ProcessDistortionL2Pipeline: dithered exposures of a dense star field -> a distortion reference."""

from ..base_step import LigerIrisPipeline
from ..dark_current.dark_current_step import DarkCurrentStep
from ..distortion_solution.distortion_solution_step import DistortionSolutionStep
from ..flat_field.flat_field_step import FlatFieldStep
from ..reference_product import NamesReferenceOutput, member_inputs

__all__ = ["ProcessDistortionL2Pipeline"]


class ProcessDistortionL2Pipeline(NamesReferenceOutput, LigerIrisPipeline):
    """dark_current -> flat_field on each exposure of an association (or a list), then distortion_solution."""

    class_alias = "process_distortion_l2"
    combines_members = True
    spec = """
    suffix = string(default='distortion')  # The output is a distortion reference
    """
    step_defs = {
        "dark_current": DarkCurrentStep,
        "flat_field": FlatFieldStep,
        "distortion_solution": DistortionSolutionStep,
    }

    def process(self, frames):
        exposures = member_inputs(frames, self.class_alias)
        # One frame at a time: the solution keeps each frame's stars, not its pixels.
        calibrated = (self.flat_field.run(self.dark_current.run(self.open_input(frame))) for frame in exposures)
        return self.distortion_solution.run(calibrated)
