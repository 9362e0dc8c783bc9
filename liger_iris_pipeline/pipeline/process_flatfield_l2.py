"""ProcessFlatfieldL2Pipeline: flat exposures (dome or twilight) -> a flat-field reference."""

from ..base_step import LigerIrisPipeline
from ..combine_flats.combine_flats_step import CombineFlatsStep
from ..dark_current.dark_current_step import DarkCurrentStep
from ..normalize.normalize_step import NormalizeStep
from ..reference_product import NamesReferenceOutput, member_inputs

__all__ = ["ProcessFlatfieldL2Pipeline"]


class ProcessFlatfieldL2Pipeline(NamesReferenceOutput, LigerIrisPipeline):
    """dark_current -> normalize on each exposure of an association (or a list), then combine_flats."""

    class_alias = "process_flatfield_l2"
    combines_members = True
    spec = """
    suffix = string(default='masterflat')  # The output is a flat reference
    """
    step_defs = {
        "dark_current": DarkCurrentStep,
        "normalize": NormalizeStep,
        "combine_flats": CombineFlatsStep,
    }

    def process(self, frames):
        exposures = member_inputs(frames, self.class_alias)
        normalized = [self.normalize.run(self.dark_current.run(self.open_input(frame))) for frame in exposures]
        return self.combine_flats.run(normalized)
