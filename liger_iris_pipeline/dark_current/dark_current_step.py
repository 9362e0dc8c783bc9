"""DarkCurrentStep: subtract the dark reference from a count-rate frame."""

from .. import units
from ..base_step import ReferenceCorrectionStep, StepInputError
from ..datamodels import DarkModel
from ..variances import frame_variances
from .dark_sub import dark_rate, subtract_dark

__all__ = ["DarkCurrentStep"]


class DarkCurrentStep(ReferenceCorrectionStep):
    """Subtract the ``dark`` reference: a rate (BUNIT DN/s) directly, counts (BUNIT DN) divided by its EXPTIME;
    its error squared is added to VAR_RNOISE."""

    class_alias = "dark_current"
    spec = """
    suffix = string(default='dark')  # Dark-subtracted (L2a) product
    """
    reference_file_types = ["dark"]
    reference_model_class = DarkModel

    def skip_reason(self, model):
        if model.meta.cal_step.background == "COMPLETE":
            return "background exposures were subtracted, and with them the same dark current"
        return None

    def apply(self, model, dark):
        window = self.reference_window
        rate, rate_err = dark_rate(
            window(model, dark, dark.data), window(model, dark, dark.err), self._counts_exposure_time(dark)
        )
        subtract_dark(model.data, model.err, model.dq, frame_variances(model), rate, rate_err, window(model, dark, dark.dq))

    @staticmethod
    def _counts_exposure_time(dark):
        """None for a dark rate; the dark's exposure time for dark counts (its unit was checked on reading)."""
        if units.canonical_unit(dark.meta.bunit_data) != units.COUNTS:
            return None
        try:
            return units.counts_exposure_time(dark)
        except units.UnitError as error:
            raise StepInputError(str(error)) from error
