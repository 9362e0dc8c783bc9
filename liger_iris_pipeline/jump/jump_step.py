"""JumpStep: flag cosmic-ray jumps in a ramp by the two-point difference method."""

import logging

from ..base_step import RampStep
from .twopoint_difference import find_jumps, flag_jump_neighbours

__all__ = ["JumpStep"]

log = logging.getLogger(__name__)


class JumpStep(RampStep):
    """``GROUPDQ |= JUMP_DET`` on the group after each outlying first difference (gain and readnoise references),
    and on the four pixels beside a jump of ``min_jump_to_flag_neighbors`` to ``max_jump_to_flag_neighbors`` sigma."""

    class_alias = "jump"
    spec = """
    suffix = string(default='jump')  # Ramp with jumps flagged (L0)
    rejection_threshold = float(default=4.0, min=0)  # in sigma, with 4 or more usable differences
    three_group_rejection_threshold = float(default=5.0, min=0)  # in sigma, with 3 usable differences
    two_group_rejection_threshold = float(default=6.0, min=0)  # in sigma, with 2 usable differences
    flag_4_neighbors = boolean(default=True)  # Also flag the 4 pixels beside a jump (as jwst)
    max_jump_to_flag_neighbors = float(default=1000, min=0)  # in sigma: larger jumps do not flag neighbours
    min_jump_to_flag_neighbors = float(default=10, min=0)  # in sigma: smaller jumps do not flag neighbours
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
        neighbours = 0
        if self.flag_4_neighbors:
            neighbours = flag_jump_neighbours(
                model.data, model.groupdq, gain, readnoise, model.meta.exposure.nframes,
                self.min_jump_to_flag_neighbors, self.max_jump_to_flag_neighbors,
            )
        log.info("%s: %d jumps flagged, and %d neighbouring groups", model.meta.filename, jumps, neighbours)
        self.record(model, "COMPLETE")
        return model
