"""NormalizeStep: divide a frame by its own mean, median or mode."""

import logging

from ..base_step import LigerIrisStep, StepInputError
from ..variances import frame_variances
from .normalize import normalize

__all__ = ["NormalizeStep"]

log = logging.getLogger(__name__)


class NormalizeStep(LigerIrisStep):
    """Divide SCI and ERR (the variances by its square) by the frame's ``method`` statistic over its good (DQ == 0) pixels; BUNIT becomes
    empty (a relative response). The level is logged and kept in a HISTORY line."""

    class_alias = "normalize"
    spec = """
    suffix = string(default='norm')  # Normalised frame
    method = option('median', 'mean', 'mode', default='median')  # Statistic the frame is divided by
    """

    def process(self, input_data):
        model = self.open_input(input_data)
        try:
            level = normalize(model.data, model.err, model.dq, self.method, frame_variances(model))
        except ValueError as error:
            raise StepInputError(f"{model.meta.filename}: {error}") from error
        log.info("%s: divided by its %s %.6g %s", model.meta.filename, self.method, level, model.meta.bunit_data or "")
        model.add_history_entry(f"normalize: divided by the {self.method} {level:.9g} {model.meta.bunit_data or ''}".strip())
        model.meta.bunit_data = model.meta.bunit_err = ""
        self.record(model, "COMPLETE")
        return model
