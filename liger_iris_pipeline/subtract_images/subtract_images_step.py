"""SubtractImagesStep: subtract one frame from another."""

from ..base_step import LigerIrisStep, StepInputError, require_same_detector
from ..variances import frame_variances
from .subtract_images import subtract_images

__all__ = ["SubtractImagesStep", "check_subtrahend"]


def check_subtrahend(model, other):
    """StepInputError naming ``other`` unless it is from the same detector and of the same shape as ``model``
    (both in DN/s: ``open_input`` checks and converts units)."""
    require_same_detector(model, other, "subtrahend")
    if other.data.shape != model.data.shape:
        raise StepInputError(f"{other.meta.filename}: shape {other.data.shape} differs from {model.meta.filename} {model.data.shape}")


class SubtractImagesStep(LigerIrisStep):
    """SCI - SCI_other, each variance component summed, ERR from their total, DQ ORed.

    From Python, ``SubtractImagesStep.call(frame, other)``; from ``tmtrun``, an association whose product
    has one science member (the frame) and one background member (the frame subtracted).
    """

    class_alias = "subtract_images"
    uses_background = True
    spec = """
    suffix = string(default='sub')  # Difference frame
    """

    def process(self, input_data, subtrahend=None):
        model = self.open_input(input_data)
        if isinstance(subtrahend, (list, tuple)):
            if len(subtrahend) != 1:
                raise StepInputError(f"{model.meta.filename}: subtract_images needs one frame to subtract, got {len(subtrahend)}")
            (subtrahend,) = subtrahend
        if subtrahend is None:
            raise StepInputError(f"{model.meta.filename}: subtract_images needs a frame to subtract")
        other = self.open_input(subtrahend)
        check_subtrahend(model, other)
        subtract_images(model.data, model.err, model.dq, frame_variances(model), other.data, frame_variances(other), other.dq)
        model.add_history_entry(f"subtract_images: minus {other.meta.filename}")
        self.record(model, "COMPLETE")
        return model
