"""NonlinearityStep: linearise the groups of a ramp with the nonlinearity reference's polynomial."""

from ..base_step import RampStep, ReferenceCorrectionStep
from ..datamodels import NonlinearityModel
from .linearity import correct_nonlinearity

__all__ = ["NonlinearityStep"]


class NonlinearityStep(ReferenceCorrectionStep, RampStep):
    """SCI = sum_k c_k SCI**k per group (not on saturated groups); uncorrectable pixels get NO_LIN_CORR."""

    class_alias = "nonlinearity"
    spec = """
    suffix = string(default='nonlinearity')  # Linearised ramp (L0)
    """
    reference_file_types = ["nonlinearity"]
    reference_model_class = NonlinearityModel
    reference_arrays = ("coeffs", "dq")

    def apply(self, model, nonlinearity):
        window = self.reference_window
        coeffs = window(model, nonlinearity, nonlinearity.coeffs)
        correct_nonlinearity(model.data, model.groupdq, model.pixeldq, coeffs, window(model, nonlinearity, nonlinearity.dq))
