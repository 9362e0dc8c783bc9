"""Subarrays: windows found in SUBARR_MAP, the SUBARRAY DQ bit, and subarray frames merged into their full frame."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_array_equal

from commands import assert_one_line_error, command
from frames import file_digest, make_frame
from liger_iris_pipeline import MergeSubarraysStep, ParseSubarrayMapStep, datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.config import default_config
from liger_iris_pipeline.subarray.subarray_map import find_windows

FLAGS = datamodels.dqflags.pixel
SUBARRAY, HOT, DO_NOT_USE = FLAGS["SUBARRAY"], FLAGS["HOT"], FLAGS["DO_NOT_USE"]

# SUBARR_MAP of a 6 x 8 full frame: ids 1, 3, 7 (not contiguous); 1 starts at column 1 and touches 3,
# 7 reaches the last column and the last row.
MAP = np.array(
    [
        [1, 1, 1, 3, 3, 0, 0, 0],
        [1, 1, 1, 3, 3, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 7, 7],
        [0, 0, 0, 0, 0, 0, 7, 7],
        [0, 0, 0, 0, 0, 0, 7, 7],
        [0, 0, 0, 0, 0, 0, 7, 7],
    ],
    np.uint16,
)
# (id, xstart, ystart, xsize, ysize), 1-based; and the same windows as 0-based numpy slices, written out by hand.
TABLE = [(1, 1, 1, 3, 2), (3, 4, 1, 2, 2), (7, 7, 3, 2, 4)]
SLICES = {1: np.s_[0:2, 0:3], 3: np.s_[0:2, 3:5], 7: np.s_[2:6, 6:8]}

FULL = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits"


def subarray_name(subarray_id):
    return f"2027A-P001-001_IRIS_IMG1_W{subarray_id}_LVL1_0001_cal.fits"


def full_frame(sci=None, err=None, dq=None, subarr_map=MAP):
    frame = make_frame(np.zeros(MAP.shape) if sci is None else sci, err=err, dq=dq)
    frame.meta.subarray.name, frame.meta.subarray.id = "FULL", 0
    frame.subarr_map = subarr_map
    return frame


def truth():
    """SCI, ERR and DQ of the full detector as the subarray reads measured them (every pixel different)."""
    sci = np.arange(MAP.size, dtype=np.float32).reshape(MAP.shape) + 100
    err = np.sqrt(sci)
    dq = np.zeros(MAP.shape, np.uint32)
    dq[0, 1] = HOT  # in window 1
    dq[5, 7] = HOT | DO_NOT_USE  # in window 7, last pixel
    dq[4, 2] = HOT  # outside every window
    return sci, err, dq


def test_shipped_configs_build_the_steps():
    for alias, step_class, suffix in (
        ("parse_subarray_map", ParseSubarrayMapStep, "submap"),
        ("merge_subarrays", MergeSubarraysStep, "merged"),
    ):
        step = step_class.from_config_file(default_config(alias))
        assert isinstance(step, step_class) and step.suffix == suffix


# Parsing the map


def test_find_windows_lists_every_id():
    assert find_windows(MAP) == TABLE
    assert find_windows(np.zeros((3, 3), np.uint16)) == []


@pytest.mark.parametrize(
    "region",
    [
        [[1, 1], [1, 0]],  # L shape
        [[1, 0], [0, 1]],  # two patches
        [[1, 1, 1], [1, 2, 1], [1, 1, 1]],  # a hole, filled by another id
    ],
)
def test_find_windows_rejects_a_region_that_is_not_a_rectangle(region):
    with pytest.raises(ValueError, match="subarray 1 is not a rectangle"):
        find_windows(np.array(region, np.uint16))


def test_parse_lists_windows_and_flags_their_pixels(tmp_path):
    sci, err, dq = truth()
    full_frame(sci, err, dq).save(tmp_path / FULL)
    result = ParseSubarrayMapStep.call(tmp_path / FULL)
    assert [tuple(row) for row in result.subarrays] == TABLE
    assert_array_equal(result.dq, np.where(MAP > 0, dq | SUBARRAY, dq))
    assert_array_equal(result.data, sci)
    assert result.meta.cal_step.parse_subarray_map == "COMPLETE"


def test_window_table_round_trips_as_a_fits_table(tmp_path):
    full_frame().save(tmp_path / FULL)
    ParseSubarrayMapStep.call(tmp_path / FULL, output_dir=str(tmp_path), save_results=True)
    path = tmp_path / FULL.replace("_cal.fits", "_submap.fits")
    with datamodels.open(path) as parsed:
        assert [tuple(row) for row in parsed.subarrays] == TABLE
        assert_array_equal(parsed.subarr_map, MAP)
    with fits.open(path) as hdulist:
        assert hdulist[0].header["S_SUBMAP"] == "COMPLETE"
        table = hdulist["SUBARRAYS"].data
        assert table.columns.names == ["id", "xstart", "ystart", "xsize", "ysize"]
        assert [tuple(row) for row in table] == TABLE


def wrong_shape_map():
    return np.zeros((3, 8), np.uint16)


def l_shaped_map():
    subarr_map = MAP.copy()
    subarr_map[2, 0] = 3
    return subarr_map


@pytest.mark.parametrize(
    ("subarr_map", "message"),
    [
        (wrong_shape_map(), "SUBARR_MAP shape (3, 8) differs from SCI shape (6, 8)"),
        (l_shaped_map(), "SUBARR_MAP subarray 3 is not a rectangle: its 5 pixels do not fill columns 1-5, rows 1-3"),
    ],
)
def test_parse_bad_map_is_an_error_naming_the_file(tmp_path, subarr_map, message):
    full_frame(subarr_map=subarr_map).save(tmp_path / FULL)
    with pytest.raises(StepInputError, match=f"^{re.escape(f'{FULL}: {message}')}$"):
        ParseSubarrayMapStep.call(tmp_path / FULL)


def test_frame_without_map_is_skipped_with_a_log_line(tmp_path):
    make_frame(np.ones(MAP.shape)).save(tmp_path / FULL)
    result = subprocess.run(
        [command("tmtrun"), "parse_subarray_map", str(tmp_path / FULL), f"--output-dir={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"{FULL}: no SUBARR_MAP extension; parse_subarray_map skipped" in result.stderr
    with datamodels.open(tmp_path / "out" / FULL.replace("_cal.fits", "_submap.fits")) as skipped:
        assert skipped.meta.cal_step.parse_subarray_map == "SKIPPED"
        assert_array_equal(skipped.dq, 0)
        assert skipped.instance.get("subarrays") is None


# Merging subarray frames


SUBARRAY_FRAMES = tuple(map(subarray_name, SLICES))


@pytest.fixture
def merge_inputs(tmp_path):
    """Write the full frame and its subarray frames (each passed through ``adjust`` first) and an association
    of ``members``; return the association's path.

    The full frame has NaN SCI and ERR and DO_NOT_USE in its windows; each subarray frame holds the truth there.
    """

    def write(members=(FULL, *SUBARRAY_FRAMES), adjust=None):
        sci, err, dq = truth()
        windows = MAP > 0
        full = full_frame(np.where(windows, np.nan, sci), np.where(windows, np.nan, err), np.where(windows, DO_NOT_USE, dq))
        frames = {FULL: full}
        for (subarray_id, window), row in zip(SLICES.items(), TABLE):
            frame = make_frame(sci[window], err=err[window], dq=dq[window])
            sub = frame.meta.subarray
            sub.name = f"W{subarray_id}"
            sub.id, sub.xstart, sub.ystart, sub.xsize, sub.ysize = row
            frames[subarray_name(subarray_id)] = frame
        for name, frame in frames.items():
            if adjust:
                adjust(frame)
            frame.save(tmp_path / name)
        association = tmp_path / "merge_asn.json"
        products = [{"name": "m92_exp1", "members": [{"expname": name, "exptype": "science"} for name in members]}]
        association.write_text(json.dumps({"asn_type": "image2", "asn_rule": "subarrays", "products": products}))
        return association

    return write


def assert_merged(merged):
    sci, err, dq = truth()
    assert_array_equal(merged.data, sci)
    assert_array_equal(merged.err, err)
    assert_array_equal(merged.dq, np.where(MAP > 0, dq | SUBARRAY, dq))
    assert [tuple(row) for row in merged.subarrays] == TABLE
    assert merged.meta.cal_step.merge_subarrays == "COMPLETE"


def test_merge_puts_each_subarray_back_in_its_window(merge_inputs):
    # Subarray frames first: the full frame is found by SUBARRID/SUBARRAY, not by its place in the association.
    association = merge_inputs(members=(*map(subarray_name, (7, 1, 3)), FULL))
    (merged,) = MergeSubarraysStep.call(association)
    assert_merged(merged)
    history = "".join(entry["description"] for entry in merged._asdf.tree["history"]["entries"])
    assert f"subarray 7 from {subarray_name(7)}" in history


def test_tmtrun_writes_the_merged_product(merge_inputs, tmp_path):
    association = merge_inputs()
    digest = file_digest(tmp_path / FULL)
    out = tmp_path / "out"
    result = subprocess.run(
        [command("tmtrun"), "merge_subarrays", str(association), f"--output-dir={out}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["m92_exp1_merged.fits"]
    with datamodels.open(out / "m92_exp1_merged.fits") as merged:
        assert_merged(merged)
    assert fits.getheader(out / "m92_exp1_merged.fits")["S_MRGSUB"] == "COMPLETE"
    assert file_digest(tmp_path / FULL) == digest


def shift_window_3(frame):
    if frame.meta.subarray.id == 3:
        frame.meta.subarray.xstart = 5


def move_window_7_outside(frame):
    if frame.meta.subarray.id == 7:
        frame.meta.subarray.xstart = 8


def renumber_window_3(frame):
    if frame.meta.subarray.id == 3:
        frame.meta.subarray.id = 5


def drop_map(frame):
    frame.subarr_map = None


def flat_field_full_frame_only(frame):
    if frame.meta.subarray.id == 0:
        frame.meta.cal_step.flat_field = "COMPLETE"


MERGE_ERRORS = {
    "window_differs_from_map": (
        dict(adjust=shift_window_3),
        f"{subarray_name(3)}: window columns 5-6, rows 1-2 differs from subarray 3 of the SUBARR_MAP of {FULL} "
        "(columns 4-5, rows 1-2)",
    ),
    "window_outside": (
        dict(adjust=move_window_7_outside),
        f"{subarray_name(7)}: window columns 8-9, rows 3-6 lies outside the 8 x 6 full frame {FULL}",
    ),
    "id_not_in_map": (dict(adjust=renumber_window_3), f"{subarray_name(3)}: subarray 5 is not in the SUBARR_MAP of {FULL}"),
    "missing_frame": (
        dict(members=(FULL, subarray_name(1), subarray_name(3))),
        f"{FULL}: no frame for subarray(s) 7 of its SUBARR_MAP",
    ),
    "different_calibration": (
        dict(adjust=flat_field_full_frame_only),
        f"{subarray_name(1)}: BUNIT and steps ('DN/s', {{}}) differ from the full frame {FULL} "
        "('DN/s', {'flat_field': 'COMPLETE'})",
    ),
    "no_map": (dict(adjust=drop_map), f"{FULL}: no SUBARR_MAP extension; cannot place the subarrays"),
    "no_full_frame": (
        dict(members=SUBARRAY_FRAMES),
        f"{', '.join(SUBARRAY_FRAMES)}: a merge takes one full frame (SUBARRID 0 or SUBARRAY FULL), got 0",
    ),
}


@pytest.mark.parametrize(("inputs", "message"), MERGE_ERRORS.values(), ids=MERGE_ERRORS)
def test_merge_errors_name_the_file(merge_inputs, inputs, message):
    association = merge_inputs(**inputs)
    with pytest.raises(StepInputError, match=f"^{re.escape(message)}$"):
        MergeSubarraysStep.call(association)


def test_merge_two_frames_for_one_id_is_an_error(merge_inputs, tmp_path):
    copy = subarray_name(1).replace("W1", "W1copy")
    association = merge_inputs(members=(FULL, *SUBARRAY_FRAMES, copy))
    shutil.copy(tmp_path / subarray_name(1), tmp_path / copy)
    with pytest.raises(StepInputError, match=f"^{re.escape(f'{copy}: subarray 1 is also {subarray_name(1)}')}$"):
        MergeSubarraysStep.call(association)


def test_tmtrun_merge_error_is_one_line(merge_inputs, tmp_path):
    association = merge_inputs(members=(FULL, subarray_name(1), subarray_name(7)))
    result = subprocess.run(
        [command("tmtrun"), "merge_subarrays", str(association), f"--output-dir={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
    )
    assert_one_line_error(result, "tmtrun", FULL, "no frame for subarray(s) 3")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
