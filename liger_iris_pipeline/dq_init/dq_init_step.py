"""DQInitStep: OR the bad pixel mask reference into a frame's DQ (a ramp's PIXELDQ)."""

from ..base_step import ReferenceCorrectionStep
from ..datamodels import MaskModel, RampModel
from .dq_initialization import initialize_dq, initialize_ramp_dq

__all__ = ["DQInitStep"]


class DQInitStep(ReferenceCorrectionStep):
    """Initialise the DQ array (of a ramp: PIXELDQ) from the ``mask`` reference (cut to the frame's subarray)."""

    class_alias = "dq_init"
    spec = """
    suffix = string(default='dqinit')  # DQ-initialised (L2a) product
    """
    reference_file_types = ["mask"]
    reference_model_class = MaskModel
    reference_arrays = ("dq",)

    def apply(self, model, mask):
        mask_dq = self.reference_window(model, mask, mask.dq)
        if isinstance(model, RampModel):
            initialize_ramp_dq(model.data, model.groupdq, model.pixeldq, mask_dq)
        else:
            initialize_dq(model.data, model.dq, mask_dq)
