"""FlatFieldStep: divide a frame by the pixel flat-field reference."""

from ..base_step import ReferenceCorrectionStep
from ..datamodels import FlatModel
from .flat_field import apply_flat

__all__ = ["FlatFieldStep"]


class FlatFieldStep(ReferenceCorrectionStep):
    """Divide by the ``flat`` reference, propagating its error; unusable flat pixels get NO_FLAT_FIELD."""

    class_alias = "flat_field"
    spec = """
    suffix = string(default='flat')  # Flat-fielded (L2a) product
    """
    reference_file_types = ["flat"]
    reference_model_class = FlatModel

    def apply(self, model, flat):
        window = self.reference_window
        apply_flat(
            model.data,
            model.err,
            model.dq,
            window(model, flat, flat.data),
            window(model, flat, flat.err),
            window(model, flat, flat.dq),
        )
