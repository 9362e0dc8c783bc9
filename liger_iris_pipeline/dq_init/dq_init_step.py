"""DQInitStep: OR the bad pixel mask reference into a frame's DQ."""

from ..base_step import LigerIrisStep
from ..datamodels import MaskModel
from .dq_initialization import initialize_dq

__all__ = ["DQInitStep"]


class DQInitStep(LigerIrisStep):
    """Initialise the DQ array from the ``mask`` reference (cut to the frame's subarray)."""

    class_alias = "dq_init"
    spec = """
    suffix = string(default='dqinit')  # DQ-initialised (L2a) product
    """
    reference_file_types = ["mask"]

    def process(self, input_data):
        model = self.open_input(input_data)
        mask = self.reference_model(model, "mask", MaskModel)
        if mask is None:
            self.record(model, "SKIPPED")
            return model
        with mask:
            initialize_dq(model.data, model.dq, self.reference_window(model, mask, mask.dq))
        self.record(model, "COMPLETE")
        return model
