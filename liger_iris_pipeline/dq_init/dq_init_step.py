"""DQInitStep: OR the bad pixel mask reference into a frame's DQ."""

from ..base_step import ReferenceCorrectionStep
from ..datamodels import MaskModel
from .dq_initialization import initialize_dq

__all__ = ["DQInitStep"]


class DQInitStep(ReferenceCorrectionStep):
    """Initialise the DQ array from the ``mask`` reference (cut to the frame's subarray)."""

    class_alias = "dq_init"
    spec = """
    suffix = string(default='dqinit')  # DQ-initialised (L2a) product
    """
    reference_file_types = ["mask"]
    reference_model_class = MaskModel

    def apply(self, model, mask):
        initialize_dq(model.data, model.dq, self.reference_window(model, mask, mask.dq))
