"""MergeSubarraysStep: put the subarray frames of an exposure back into its full frame."""

from ..base_step import LigerIrisStep, StepInputError, require_same_detector
from ..datamodels import require_meta
from ..variances import VARIANCE_ARRAYS
from .parse_subarray_map_step import label_windows, read_windows
from .subarray_map import Window, paste_windows

__all__ = ["MergeSubarraysStep"]

#: The arrays a subarray frame replaces in its window of the full frame.
MERGED_ARRAYS = ("data", "err", *VARIANCE_ARRAYS, "dq")
#: Steps that only a full frame goes through.
SUBARRAY_STEPS = ("parse_subarray_map", "merge_subarrays")


def is_full_frame(model):
    """A full frame has SUBARRID 0 or SUBARRAY FULL; any other frame is a subarray."""
    return model.meta.subarray.id == 0 or model.meta.subarray.name == "FULL"


def calibration_level(model):
    """BUNIT and the status of every calibration step but the subarray ones: what a merge's frames must share."""
    statuses = {step: status for step, status in model.meta.cal_step.instance.items() if step not in SUBARRAY_STEPS}
    return model.meta.bunit_data, statuses


class MergeSubarraysStep(LigerIrisStep):
    """Replace SCI, ERR, the variances and DQ in each window of a full frame by the subarray frame read there.

    Input: a JSON association whose product's science members are one full frame (SUBARRID 0 or SUBARRAY
    FULL) with its SUBARR_MAP, and one frame per subarray id of the map (SUBARRID k, its window in
    SUBSTRT1/2 and its array shape), in the same BUNIT and through the same steps. From Python, a list of
    those frames.
    Output: the full frame, its windows holding the subarrays' pixels with DQ = subarray DQ | SUBARRAY
    (the bit then says which pixels come from a subarray), the SUBARRAYS table filled as by
    parse_subarray_map.
    """

    class_alias = "merge_subarrays"
    combines_members = True
    spec = """
    suffix = string(default='merged')  # Same level as the inputs (L2b from _cal frames)
    """

    def process(self, frames):
        if not isinstance(frames, (list, tuple)):
            raise StepInputError(
                f"{frames}: merge_subarrays takes an association (or a list) of a full frame and its subarray frames"
            )
        models = [self.open_input(frame) for frame in frames]
        full, subarrays = self._split_full_frame(models)
        pieces = self._place(full, subarrays)
        for name in MERGED_ARRAYS:
            paste_windows(getattr(full, name), [(window, getattr(subarray, name)) for window, subarray in pieces])
        label_windows(full, [window for window, _ in pieces])
        full.add_history_entry(
            "merge_subarrays: "
            + ", ".join(f"subarray {window.id} from {subarray.meta.filename}" for window, subarray in pieces)
        )
        self.record(full, "COMPLETE")
        return full

    @staticmethod
    def _split_full_frame(models):
        """The one full frame (which must carry SUBARR_MAP) and the subarray frames."""
        full_frames = [model for model in models if is_full_frame(model)]
        names = ", ".join(str(model.meta.filename) for model in full_frames or models)
        if len(full_frames) != 1:
            raise StepInputError(
                f"{names}: a merge takes one full frame (SUBARRID 0 or SUBARRAY FULL), got {len(full_frames)}"
            )
        (full,) = full_frames
        if full.subarr_map is None:
            raise StepInputError(f"{full.meta.filename}: no SUBARR_MAP extension; cannot place the subarrays")
        return full, [model for model in models if model is not full]

    @staticmethod
    def _place(full, subarrays):
        """Pair each window of the full frame's map with its subarray frame: one frame per id, no more, no less."""
        map_windows = {window.id: window for window in read_windows(full)}
        by_id = {}
        for subarray in subarrays:
            window = window_in_map(full, subarray, map_windows)
            if window.id in by_id:
                raise StepInputError(f"{subarray.meta.filename}: subarray {window.id} is also {by_id[window.id].meta.filename}")
            by_id[window.id] = subarray
        missing = sorted(set(map_windows) - set(by_id))
        if missing:
            raise StepInputError(
                f"{full.meta.filename}: no frame for subarray(s) {', '.join(map(str, missing))} of its SUBARR_MAP"
            )
        return [(map_windows[subarray_id], by_id[subarray_id]) for subarray_id in sorted(by_id)]


def window_in_map(full, subarray, map_windows):
    """The window of ``subarray``; StepInputError naming it unless it is its id's window in ``full``'s map."""
    require_meta(subarray, ("subarray.id", "subarray.xstart", "subarray.ystart"))
    require_same_detector(full, subarray, "subarray")
    name, full_name = subarray.meta.filename, full.meta.filename
    if calibration_level(subarray) != calibration_level(full):
        raise StepInputError(
            f"{name}: BUNIT and steps {calibration_level(subarray)} differ from the full frame "
            f"{full_name} {calibration_level(full)}"
        )
    sub = subarray.meta.subarray
    ysize, xsize = subarray.data.shape
    window = Window(sub.id, sub.xstart, sub.ystart, xsize, ysize)
    if not window.fits_in(full.data.shape):
        rows, columns = full.data.shape
        raise StepInputError(f"{name}: window {window.extent} lies outside the {columns} x {rows} full frame {full_name}")
    if window.id not in map_windows:
        raise StepInputError(f"{name}: subarray {window.id} is not in the SUBARR_MAP of {full_name}")
    if window != map_windows[window.id]:
        raise StepInputError(
            f"{name}: window {window.extent} differs from subarray {window.id} of the SUBARR_MAP of "
            f"{full_name} ({map_windows[window.id].extent})"
        )
    return window
