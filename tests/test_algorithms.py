"""The plain-numpy algorithms against arrays computed by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from liger_iris_pipeline.dark_current.dark_sub import dark_rate, subtract_dark
from liger_iris_pipeline.dq_init.dq_initialization import initialize_dq
from liger_iris_pipeline.dqflags import pixel
from liger_iris_pipeline.flat_field.flat_field import apply_flat

DO_NOT_USE, DEAD, HOT = pixel["DO_NOT_USE"], pixel["DEAD"], pixel["HOT"]
NO_FLAT_FIELD, UNRELIABLE_FLAT, UNRELIABLE_DARK = pixel["NO_FLAT_FIELD"], pixel["UNRELIABLE_FLAT"], pixel["UNRELIABLE_DARK"]
SATURATED = pixel["SATURATED"]


def f32(values):
    return np.array(values, dtype=np.float32)


def u32(values):
    return np.array(values, dtype=np.uint32)


def test_initialize_dq_ors_mask_and_keeps_existing_flags():
    sci = f32([[1, 2], [np.nan, 4]])
    dq = u32([[SATURATED, 0], [0, 0]])
    mask = u32([[DEAD | DO_NOT_USE, 0], [0, HOT]])
    initialize_dq(sci, dq, mask)
    assert_array_equal(dq, [[SATURATED | DEAD | DO_NOT_USE, 0], [DO_NOT_USE, HOT]])


def variances_of(var_poisson, var_rnoise, var_flat):
    """The three variance arrays of a one-row frame, and its ERR (the square root of their sum)."""
    variances = tuple(f32([values]) for values in (var_poisson, var_rnoise, var_flat))
    return variances, np.sqrt(sum(variances)).astype(np.float32)


def assert_err_is_the_total(err, variances):
    assert_allclose(err**2, sum(variances), rtol=1e-6)


@pytest.mark.science
def test_subtract_dark_values_errors_and_flags():
    sci, dq = f32([[10, 10, 10]]), u32([[SATURATED, 0, 0]])
    variances, err = variances_of([4, 0, 0.5], [5, 0, 0.5], [0, 0, 0])  # ERR 3, 0, 1
    dark, dark_err, dark_dq = f32([[2, 1.5, np.nan]]), f32([[4, 0.5, 1]]), u32([[0, HOT, 0]])
    subtract_dark(sci, err, dq, variances, dark, dark_err, dark_dq)
    # SCI - D; VAR_RNOISE + sigma_D^2 = 21, 0.25; ERR sqrt(4 + 21) = 5, 0.5; a NaN dark is not subtracted,
    # adds no variance and flags the pixel.
    assert_allclose(sci, [[8, 8.5, 10]])
    assert_allclose(variances[0], [[4, 0, 0.5]])
    assert_allclose(variances[1], [[21, 0.25, 0.5]])
    assert_allclose(variances[2], 0)
    assert_allclose(err, [[5, 0.5, 1]])
    assert_err_is_the_total(err, variances)
    assert_array_equal(dq, [[SATURATED, HOT, UNRELIABLE_DARK | DO_NOT_USE]])


def test_dark_counts_become_a_rate():
    counts, counts_err = f32([[20, 40]]), f32([[2, 4]])
    rate, rate_err = dark_rate(counts, counts_err, counts_exposure_time=20.0)
    assert_allclose(rate, [[1, 2]])
    assert_allclose(rate_err, [[0.1, 0.2]])
    same_rate, _ = dark_rate(counts, counts_err, counts_exposure_time=None)
    assert same_rate is counts
    with pytest.raises(ValueError, match="positive"):
        dark_rate(counts, counts_err, counts_exposure_time=0)


@pytest.mark.science
def test_apply_flat_variance_components():
    sci, dq = f32([[8, 6, 4]]), u32([[0, SATURATED, 0]])
    variances, err = variances_of([3, 20, 1], [1, 16, 1], [0, 0, 0.5])
    flat, flat_err, flat_dq = f32([[2, 0.5, 2]]), f32([[0.1, 0.05, 0]]), u32([[UNRELIABLE_FLAT, 0, 0]])
    apply_flat(sci, err, dq, variances, flat, flat_err, flat_dq)
    # SCI/F = 4, 12, 2; VAR_POISSON/F^2 = 0.75, 80, 0.25; VAR_RNOISE/F^2 = 0.25, 64, 0.25;
    # VAR_FLAT = VAR_FLAT/F^2 + SCI_out^2 (sigma_F/F)^2 = 16 * 0.05^2 = 0.04, 144 * 0.1^2 = 1.44, 0.5/4 = 0.125.
    assert_allclose(sci, [[4, 12, 2]])
    assert_allclose(variances[0], [[0.75, 80, 0.25]], rtol=1e-6)
    assert_allclose(variances[1], [[0.25, 64, 0.25]], rtol=1e-6)
    assert_allclose(variances[2], [[0.04, 1.44, 0.125]], rtol=1e-6)
    assert_allclose(err, [[np.sqrt(1.04), np.sqrt(145.44), np.sqrt(0.625)]], rtol=1e-6)
    assert_array_equal(dq, [[UNRELIABLE_FLAT, SATURATED, 0]])


@pytest.mark.science
def test_apply_flat_zero_negative_nan_and_no_flat_field_flat_leave_pixel_and_flag_it():
    sci, dq = f32([[5, 6, 7, 8, 9]]), u32([[0, 0, HOT, 0, 0]])
    variances, err = variances_of([0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0, 0])
    flat, flat_err = f32([[0, -1, np.nan, 2, 2]]), f32([[0.1, 0.1, 0.1, np.nan, 0.1]])
    apply_flat(sci, err, dq, variances, flat, flat_err, u32([[0, 0, 0, 0, NO_FLAT_FIELD]]))
    # The last pixel's flat is a valid 2, but its DQ says NO_FLAT_FIELD: not divided, DO_NOT_USE.
    assert_allclose(sci, [[5, 6, 7, 4, 9]])
    assert_allclose(err, [[1, 1, 1, 0.5, 1]])  # a NaN flat error adds nothing but marks the flat unreliable
    assert_allclose(variances[0], [[0.5, 0.5, 0.5, 0.125, 0.5]])
    assert_allclose(variances[2], 0)
    no_flat = NO_FLAT_FIELD | DO_NOT_USE
    assert_array_equal(dq, [[no_flat, no_flat, HOT | no_flat, UNRELIABLE_FLAT, no_flat]])


def test_sorting_network_sorts_every_input():
    """Batcher's network sorts every 0/1 input of up to 12 values (which proves it sorts any input of that
    size), and random values with ties of larger sizes."""
    import itertools

    from liger_iris_pipeline.kernels import sort_columns, sorting_network

    for count in range(1, 13):
        columns = np.array(list(itertools.product([0.0, 1.0], repeat=count))).T.copy()
        expected = np.sort(columns, axis=0)
        sort_columns(columns, columns.shape[1], sorting_network(count))
        assert_array_equal(columns, expected)
    for count in (17, 31, 64, 99):
        columns = np.random.default_rng(count).integers(0, 9, size=(count, 300)).astype(np.float32)
        expected = np.sort(columns, axis=0)
        sort_columns(columns, 250, sorting_network(count))  # the first 250 columns only
        assert_array_equal(columns[:, :250], expected[:, :250])
        assert not np.array_equal(columns[:, 250:], expected[:, 250:])
