"""SaturationStep: flag the saturated groups of a ramp from the saturation reference."""

from ..base_step import RampStep, ReferenceCorrectionStep
from ..datamodels import SaturationModel
from .saturation import flag_saturation

__all__ = ["SaturationStep"]


class SaturationStep(ReferenceCorrectionStep, RampStep):
    """``GROUPDQ |= SATURATED | DO_NOT_USE`` from the first group at or above the ``saturation`` level on, and
    in the pixels within ``n_pix_grow_sat`` of it."""

    class_alias = "saturation"
    spec = """
    suffix = string(default='saturation')  # Ramp with saturated groups flagged (L0)
    n_pix_grow_sat = integer(default=1, min=0)  # Also flag the pixels this close (x and y) to a saturated one (as jwst)
    """
    reference_file_types = ["saturation"]
    reference_model_class = SaturationModel
    reference_arrays = ("data",)

    def apply(self, model, saturation):
        flag_saturation(
            model.data, model.groupdq, model.pixeldq, self.reference_window(model, saturation, saturation.data),
            self.n_pix_grow_sat,
        )
