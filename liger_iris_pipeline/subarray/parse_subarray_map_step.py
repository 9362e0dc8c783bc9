"""ParseSubarrayMapStep: list a full frame's subarray windows and flag their pixels in DQ."""

import logging

from ..base_step import LigerIrisStep, StepInputError
from .subarray_map import find_windows, flag_windows

__all__ = ["ParseSubarrayMapStep", "label_windows", "read_windows"]

log = logging.getLogger(__name__)


def read_windows(model):
    """The windows of ``model``'s SUBARR_MAP; StepInputError naming the file when the map is unusable."""
    subarr_map = model.subarr_map
    if subarr_map.shape != model.data.shape:
        raise StepInputError(
            f"{model.meta.filename}: SUBARR_MAP shape {subarr_map.shape} differs from SCI shape {model.data.shape}"
        )
    try:
        return find_windows(subarr_map)
    except ValueError as error:
        raise StepInputError(f"{model.meta.filename}: SUBARR_MAP {error}") from error


def label_windows(model, windows):
    """Write ``windows`` to the SUBARRAYS table of ``model`` and OR the SUBARRAY bit into their DQ pixels."""
    model.subarrays = windows
    flag_windows(model.dq, windows)


class ParseSubarrayMapStep(LigerIrisStep):
    """Read a full frame's SUBARR_MAP: each subarray's window goes to the SUBARRAYS table, its pixels get SUBARRAY.

    A frame without SUBARR_MAP (no subarray was read during it) is passed on unchanged: SKIPPED.
    """

    class_alias = "parse_subarray_map"
    spec = """
    suffix = string(default='submap')  # Same level as the input: only DQ and the SUBARRAYS table change
    """

    def process(self, input_data):
        model = self.open_input(input_data)
        if model.subarr_map is None:
            log.info("%s: no SUBARR_MAP extension; %s skipped", model.meta.filename, self.class_alias)
            self.record(model, "SKIPPED")
            return model
        windows = read_windows(model)
        label_windows(model, windows)
        log.info("%s: %d subarray window(s): %s", model.meta.filename, len(windows), windows)
        self.record(model, "COMPLETE")
        return model
