"""OutlierDetectionStep and its algorithm: hand-computed thresholds, median and derivative, then a simulated
dither with residual cosmic rays and hot pixels against the simulator's list of them."""

import numpy as np
import pytest
from astropy.stats import sigma_clip

from dithered import calibrate_dither, counted, good_star_pixels, injected, with_true_wcs
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.outlier_detection import OutlierDetectionStep
from liger_iris_pipeline.outlier_detection.outlier_detection import (
    _float32_at_or_above,
    _float32_at_or_below,
    blot_derivative,
    median_in_sections,
    outlier_mask,
    weight_threshold,
)
from test_resample import SCALE_DEG, wcs_frame

FLAGS = datamodels.dqflags.pixel


def test_weight_threshold_is_maskpt_times_the_clipped_mean_of_positive_weights():
    weights = np.array([0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 200.0, np.nan])
    assert weight_threshold(weights, 0.7) == pytest.approx(1.4)  # 200 is clipped, zeros and NaN ignored
    assert weight_threshold(np.zeros(4), 0.7) == 0.0


def test_the_clip_bounds_become_float32_keys_that_keep_exactly_the_same_values():
    """A float64 bound between two float32 values: at-or-above takes the upper one, at-or-below the lower one;
    a bound that is a float32 is its own key either way."""
    above = np.float64(np.float32(1.0)) + 1e-9
    assert _float32_at_or_above(above) == np.nextafter(np.float32(1.0), np.float32(2.0))
    assert _float32_at_or_below(above) == np.float32(1.0)
    assert _float32_at_or_above(1.0) == _float32_at_or_below(1.0) == np.float32(1.0)


@pytest.mark.science
@pytest.mark.parametrize("size", [7, 1000, 200_000])
def test_weight_threshold_agrees_with_astropys_sigma_clip(size):
    """A skewed, tailed weight map (a drizzled frame's edges and gaps) against astropy's sigma_clip itself."""
    rng = np.random.default_rng(size)
    weights = rng.normal(1.0, 0.1, size).astype(np.float32)
    weights[: size // 10] = 0.0
    weights[size // 10 : size // 4] = rng.uniform(0.0, 1.0, size // 4 - size // 10)
    weights[-3:] = [np.nan, 50.0, 0.2]
    positive = weights[np.isfinite(weights) & (weights > 0)]
    expected = 0.7 * np.mean(sigma_clip(positive, sigma=3, maxiters=5, masked=False), dtype=np.float64)
    assert weight_threshold(weights, 0.7) == pytest.approx(expected, rel=1e-6)


def test_median_in_sections_is_the_nan_median_whatever_the_band_size():
    rng = np.random.default_rng(3)
    images = [rng.normal(size=(7, 5)).astype(np.float32) for _ in range(4)]
    images[0][2, 3] = np.nan
    for image in images:
        image[4, 1] = np.nan
    expected = np.array([[3.0, 4.0], [np.nan, 1.0]], np.float32)
    small = [np.array([[1.0, 4.0], [np.nan, 0.0]]), np.array([[3.0, np.nan], [np.nan, 2.0]]), np.array([[9.0, 4.0], [np.nan, 1.0]])]
    np.testing.assert_array_equal(median_in_sections([s.astype(np.float32) for s in small], section_bytes=1), expected)
    sectioned = median_in_sections(images, section_bytes=4 * 4 * 5)  # one row of every image at a time
    reference = np.nanmedian(np.where(np.isnan(images), np.nan, images), axis=0)
    np.testing.assert_array_equal(np.isnan(sectioned), np.isnan(reference))
    np.testing.assert_allclose(sectioned[~np.isnan(reference)], reference[~np.isnan(reference)])


def test_blot_derivative_is_the_largest_step_to_a_neighbour():
    blot = np.array([[0.0, 0.0, 0.0], [0.0, 4.0, 1.0], [0.0, 0.0, 0.0]])
    expected = np.array([[0.0, 4.0, 1.0], [4.0, 4.0, 3.0], [0.0, 4.0, 1.0]])
    np.testing.assert_array_equal(blot_derivative(blot), expected)


def test_outliers_need_snr1_somewhere_in_their_neighbourhood_and_snr2_themselves():
    blot = np.full((7, 9), 10.0)
    err = np.ones_like(blot)
    data = blot.copy()
    data[2, 2] = 10.0 + 6.0  # 6 sigma: strong
    data[2, 3] = 10.0 + 4.5  # beside it, above 4 sigma: flagged
    data[3, 3] = 10.0 + 3.5  # beside it, below 4 sigma: not
    data[5, 7] = 10.0 + 4.5  # alone above 4 sigma: not
    mask = outlier_mask(data, blot, err)
    assert set(zip(*np.nonzero(mask))) == {(2, 2), (2, 3)}
    # a background the blot (a sky-subtracted median) lacks is taken off the frame first
    assert not outlier_mask(data + 20.0, blot, err, background=20.0)[5, 7]
    assert outlier_mask(data + 20.0, blot, err, background=20.0)[2, 2]
    # on a steep blot (a star's core) the thresholds rise with the derivative
    steep = blot.copy()
    steep[2, 1] = 0.0  # |10 - 0| = 10 next to (2, 2): threshold 1.2 * 10 + 5
    assert not outlier_mask(data, steep, err)[2, 2]


@pytest.mark.parametrize("offsets", [(0,), (0, 20)], ids=["one-frame", "apart"])
def test_frames_with_nothing_to_compare_pass_unflagged_and_skipped(offsets, tmp_path):
    """One frame, or frames that do not overlap (separate fields of a mosaic): no pixel is seen twice, so nothing
    is flagged, each frame is SKIPPED, and its _crf is still written (a product the workflow declares)."""
    frames = []
    for index, offset in enumerate(offsets):
        frame = wcs_frame(np.ones((8, 8)), crval=(150.0, 2.0 + offset * SCALE_DEG))
        frame.data[4, 4] = 1000.0
        frame.meta.filename = f"f{index}_cal.fits"
        frames.append(frame)
    library = OutlierDetectionStep.call(frames, output_dir=str(tmp_path), save_results=True)
    for index in range(len(offsets)):
        with library.frame(index) as model:
            assert model.meta.cal_step.outlier_detection == "SKIPPED"
            assert not (model.dq & datamodels.dqflags.pixel["OUTLIER"]).any()
        assert (tmp_path / f"f{index}_crf.fits").is_file()
    library.close()


def test_a_spike_in_one_of_three_frames_is_flagged_and_saved_as_crf(tmp_path):
    rng = np.random.default_rng(5)
    frames = [wcs_frame(10.0 + rng.normal(0.0, 0.1, (16, 16)), var_rnoise=0.01) for _ in range(3)]
    frames[1].data[8, 5] += 5.0
    for index, frame in enumerate(frames):
        frame.meta.filename = f"f{index}_cal.fits"
    library = OutlierDetectionStep.call(frames, output_dir=str(tmp_path), save_results=True)
    try:
        for index in range(3):
            with library.frame(index) as model:
                flagged = set(zip(*np.nonzero(model.dq & FLAGS["OUTLIER"])))
                assert flagged == ({(8, 5)} if index == 1 else set())
                assert model.dq[8, 5] & FLAGS["DO_NOT_USE"] or index != 1
                assert model.meta.cal_step.outlier_detection == "COMPLETE"
        assert sorted(path.name for path in tmp_path.glob("*_crf.fits")) == ["f0_crf.fits", "f1_crf.fits", "f2_crf.fits"]
        with datamodels.open(tmp_path / "f1_crf.fits") as saved:
            assert saved.dq[8, 5] & FLAGS["OUTLIER"]
    finally:
        library.close()


# ---- a simulated 4-point dither with residual cosmic rays and hot pixels, true WCS ----

@pytest.fixture(scope="module")
def flagged_dither(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outliers")
    dither = calibrate_dither(directory, positions=4, size=384, residual_cosmic_rays=150, residual_hot_pixels=15)
    frames = with_true_wcs(dither, directory / "true_wcs")
    library = OutlierDetectionStep.call(list(frames))
    yield dither, frames, library
    library.close()


def flagged_count(library, index, pixels):
    """How many of the ``pixels`` (an index or a mask) of member ``index`` are flagged OUTLIER."""
    with library.frame(index) as model:
        return np.count_nonzero(model.dq[pixels] & FLAGS["OUTLIER"])


@pytest.mark.science
def test_residual_cosmic_rays_are_flagged(flagged_dither):
    dither, frames, library = flagged_dither
    found = total = injected_pixels = 0
    for index in range(len(frames)):
        table = injected(dither, frames, index)
        cosmic = table[table["kind"] == "cosmic_ray"]
        cosmic = cosmic[np.unique(np.stack([cosmic["x"], cosmic["y"]]), axis=1, return_index=True)[1]]
        injected_pixels += len(cosmic)
        chosen = cosmic[counted(cosmic)]
        found += flagged_count(library, index, (chosen["y"], chosen["x"]))
        total += len(chosen)
    print(f"cosmic-ray pixels: {found} of {total} counted flagged ({injected_pixels} injected)")
    assert total > 500
    assert found >= 0.99 * total


@pytest.mark.science
def test_residual_hot_pixels_are_flagged_in_every_frame(flagged_dither):
    dither, frames, library = flagged_dither
    found = total = 0
    for index in range(len(frames)):
        table = injected(dither, frames, index)
        hot = table[(table["kind"] == "hot")]
        chosen = hot[counted(hot)]
        found += flagged_count(library, index, (chosen["y"], chosen["x"]))
        total += len(chosen)
    print(f"hot pixels: {found} of {total} counted flagged")
    assert total >= 20 and found == total


@pytest.mark.science
def test_good_star_pixels_are_not_flagged(flagged_dither):
    """Pixels where a star is > 5 ERR above the sky, away from injected outliers and not flagged before."""
    dither, frames, library = flagged_dither
    flagged = total = 0
    for index in range(len(frames)):
        stars = good_star_pixels(dither, frames, index)
        flagged += flagged_count(library, index, stars)
        total += np.count_nonzero(stars)
    print(f"star pixels: {flagged} of {total} flagged ({100.0 * flagged / total:.3f} %)")
    assert total > 2000
    assert flagged < 0.001 * total


def test_the_flags_are_the_same_made_by_one_process_or_two(flagged_dither):
    """Single drizzles and blots run two at a time in forked processes by default; in this process one at a time
    they flag the same pixels, and the frames come back in their order."""
    _, frames, library = flagged_dither
    with OutlierDetectionStep.call(list(frames), processes=1) as serial:
        assert serial.names == library.names
        for index in range(len(frames)):
            with serial.frame(index, arrays=("dq",)) as one, library.frame(index, arrays=("dq",)) as two:
                np.testing.assert_array_equal(one.dq, two.dq)
                assert (one.dq & FLAGS["OUTLIER"]).any()
