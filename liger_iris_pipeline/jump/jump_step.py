"""JumpStep: flag cosmic-ray jumps in a ramp by the two-point difference method."""

import logging

from ..base_step import RampStep
from .twopoint_difference import find_jumps

__all__ = ["JumpStep"]

log = logging.getLogger(__name__)


class JumpStep(RampStep):
    """``GROUPDQ |= JUMP_DET`` on the group after each outlying first difference (gain and readnoise references)."""

    class_alias = "jump"
    spec = """
    suffix = string(default='jump')  # Ramp with jumps flagged (L0)
    rejection_threshold = float(default=4.0, min=0)  # in sigma, with 4 or more usable differences
    three_group_rejection_threshold = float(default=5.0, min=0)  # in sigma, with 3 usable differences
    two_group_rejection_threshold = float(default=6.0, min=0)  # in sigma, with 2 usable differences
    """
    reference_file_types = ["gain", "readnoise"]

    def process(self, input_data):
        model = self.open_input(input_data)
        maps = self.readout_maps(model)
        if maps is None:
            self.record(model, "SKIPPED")
            return model
        gain, readnoise = maps
        jumps = find_jumps(
            model.data, model.groupdq, gain, readnoise, model.meta.exposure.nframes,
            self.rejection_threshold, self.three_group_rejection_threshold, self.two_group_rejection_threshold,
        )
        log.info("%s: %d jumps flagged", model.meta.filename, jumps)
        self.record(model, "COMPLETE")
        return model
