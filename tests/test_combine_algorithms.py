"""The combining algorithms on hand-computed stacks: rejection, errors and flags."""

import math

import numpy as np
import pytest

from liger_iris_pipeline.combine_flats.combine_flats import combine_flats
from liger_iris_pipeline.datamodels import dqflags
from liger_iris_pipeline.master_dark.master_dark import dark_flags
from liger_iris_pipeline.stack import combine_stack, grow_mask

pytestmark = pytest.mark.science
FLAGS = dqflags.pixel


def column(*values):
    """A stack of 1x1 frames."""
    return np.array(values, np.float32).reshape(-1, 1, 1)


def test_one_outlier_among_three_is_rejected_by_the_frames_error():
    combined = combine_stack(column(10.0, 10.2, 50.0), column(0.1, 0.1, 0.1), method="mean", sigma=3)
    assert combined.value[0, 0] == pytest.approx(10.1)
    assert combined.n_used[0, 0] == 2
    # Scatter of the two kept: s = 0.1414, ERR = s / sqrt(2); expected noise 0.1, so excess 1.414.
    assert combined.err[0, 0] == pytest.approx(0.2 / math.sqrt(2) / math.sqrt(2), rel=1e-5)
    assert combined.excess_scatter[0, 0] == pytest.approx(math.sqrt(2), rel=1e-5)
    # The median of three keeps its efficiency factor sqrt(pi/2); DO_NOT_USE members are left out.
    median = combine_stack(column(1.0, 2.0, 3.0, 100.0), column(10, 10, 10, 10), dqs=column(0, 0, 0, 1).astype(np.uint32))
    assert median.value[0, 0] == 2.0 and median.n_used[0, 0] == 3
    assert median.err[0, 0] == pytest.approx(math.sqrt(math.pi / 2) * 1.0 / math.sqrt(3), rel=1e-5)


def test_grow_spreads_a_rejection_but_never_leaves_a_pixel_empty():
    mask = np.zeros((1, 5, 5), bool)
    mask[0, 2, 2] = True
    assert grow_mask(mask, 1)[0].sum() == 9
    values = np.full((3, 5, 5), 10.0, np.float32)
    values[0, 2, 2] = 1000.0  # a star in member 0; its neighbours 12 (wings below the threshold)
    values[0, 1:4, 1:4] += np.where(values[0, 1:4, 1:4] == 10.0, 2.0, 0.0)
    combined = combine_stack(values, np.ones_like(values), method="mean", sigma=3, grow=1)
    np.testing.assert_allclose(combined.value, 10.0)
    assert combined.n_used[2, 2] == 2 and combined.n_used[0, 0] == 3


def test_dark_flags_by_threshold():
    rate = np.array([[0.1, 0.5, 4.9, 5.0, np.nan]])
    excess = np.array([[1.0, 1.0, 1.0, 1.0, np.nan]])
    excess[0, 0] = 4.0
    dq = dark_flags(rate, excess, hot_threshold=5.0, warm_threshold=0.5, unstable_ratio=3.0)
    expected = [
        FLAGS["UNRELIABLE_DARK"],
        FLAGS["WARM"],
        FLAGS["WARM"],
        FLAGS["HOT"],
        FLAGS["UNRELIABLE_DARK"] | FLAGS["DO_NOT_USE"],
    ]
    assert dq.ravel().tolist() == expected


def test_combined_flat_has_mean_one_and_flags():
    # Four pixels, three exposures: responses 1.0, 1.2, 0.05 (dead-ish), and one that scatters.
    values = np.array(
        [[[1.0, 1.2, 0.05, 0.9]], [[1.0, 1.2, 0.05, 1.1]], [[1.0, 1.2, 0.05, 1.3]]], np.float32
    )
    errors = np.full_like(values, 0.01)
    flat, err, dq = combine_flats(values, errors, None, "mean", 100.0, 0, low_response=0.1, unreliable_ratio=5.0)
    scale = (1.0 + 1.2 + 1.1) / 3  # the mean response over the pixels above low_response
    np.testing.assert_allclose(flat.ravel(), [1.0 / scale, 1.2 / scale, 0.0, 1.1 / scale], rtol=1e-6)
    assert err.ravel()[3] == pytest.approx(0.2 / math.sqrt(3) / scale, rel=1e-5)
    assert dq.ravel().tolist() == [0, 0, FLAGS["NO_FLAT_FIELD"] | FLAGS["DO_NOT_USE"], FLAGS["UNRELIABLE_FLAT"]]


def test_nan_median_agrees_with_numpy():
    from liger_iris_pipeline.stack import nan_median

    stack = np.random.default_rng(7).random((4, 30, 20)).astype(np.float32)
    stack[0, ::3] = np.nan
    stack[:, 5, 5] = np.nan
    with pytest.warns(RuntimeWarning):  # numpy warns about the all-NaN pixel
        expected = np.nanmedian(stack, axis=0)
    np.testing.assert_array_equal(nan_median(stack), expected)


def test_a_combination_averages_down_poisson_and_read_noise_but_not_the_flat_error():
    """N members that share one flat: their VAR_POISSON and VAR_RNOISE are independent and fall as 1 / N
    (times pi / 2 for the median), VAR_FLAT is the same error in all and stays (stack.combine_variances)."""
    from liger_iris_pipeline.background.background_sub import combine_background
    from liger_iris_pipeline.stack import combine_variances

    n = 5
    values, errors = column(*([10.0] * n)), column(*([2.0] * n))  # ERR**2 = 1 + 2.5 + 0.5 = 4
    dqs = column(*([0] * n)).astype(np.uint32)
    variances = (column(*([1.0] * n)), column(*([2.5] * n)), column(*([0.5] * n)))
    kept = np.ones((n, 1, 1), bool)
    assert combine_variances(variances[0], kept, "mean")[0, 0] == pytest.approx(1.0 / n)
    assert combine_variances(variances[2], kept, "mean", common=True)[0, 0] == pytest.approx(0.5)
    kept[0] = False  # a rejected member counts in neither
    assert combine_variances(variances[1], kept, "mean")[0, 0] == pytest.approx(2.5 / (n - 1))

    background, (var_poisson, var_rnoise, var_flat), dq = combine_background(values, errors, dqs, variances, 3.0, 5, 0)
    assert background[0, 0] == 10.0 and dq[0, 0] == 0
    assert var_poisson[0, 0] == pytest.approx(math.pi / 2 * 1.0 / n, rel=1e-6)
    assert var_rnoise[0, 0] == pytest.approx(math.pi / 2 * 2.5 / n, rel=1e-6)
    assert var_flat[0, 0] == pytest.approx(0.5, rel=1e-6)
