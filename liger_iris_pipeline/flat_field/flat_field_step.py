"""FlatFieldStep: divide a frame by the pixel flat-field reference."""

from ..base_step import ReferenceCorrectionStep
from ..datamodels import FlatModel
from ..variances import frame_variances
from .flat_field import apply_flat

__all__ = ["FlatFieldStep"]


class FlatFieldStep(ReferenceCorrectionStep):
    """Divide by the ``flat`` reference: VAR_POISSON and VAR_RNOISE divided by the flat squared, the flat's
    error into VAR_FLAT, ERR their quadratic sum; NO_FLAT_FIELD flat pixels are not divided and get DO_NOT_USE."""

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
            frame_variances(model),
            window(model, flat, flat.data),
            window(model, flat, flat.err),
            window(model, flat, flat.dq),
        )
