"""FlatFieldStep: divide a frame by the pixel flat-field reference."""

from ..base_step import LigerIrisStep
from ..datamodels import FlatModel
from .flat_field import apply_flat

__all__ = ["FlatFieldStep"]


class FlatFieldStep(LigerIrisStep):
    """Divide by the ``flat`` reference, propagating its error; unusable flat pixels get NO_FLAT_FIELD."""

    class_alias = "flat_field"
    spec = """
    suffix = string(default='flat')  # Flat-fielded (L2a) product
    """
    reference_file_types = ["flat"]

    def process(self, input_data):
        model = self.open_input(input_data)
        flat = self.reference_model(model, "flat", FlatModel)
        if flat is None:
            self.record(model, "SKIPPED")
            return model
        with flat:
            apply_flat(
                model.data,
                model.err,
                model.dq,
                self.reference_window(model, flat, flat.data),
                self.reference_window(model, flat, flat.err),
                self.reference_window(model, flat, flat.dq),
            )
        self.record(model, "COMPLETE")
        return model
