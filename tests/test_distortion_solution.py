"""The distortion solved from a simulated 9-point dither of a dense star field, against the simulator's true
distortion: by self-calibration across the dithers and against a reference catalogue."""

import numpy as np
import pytest
from astropy.table import Table

from dithered import reference_catalog
from frames import describe, make_frame
from liger_iris_pipeline import DistortionSolutionStep, ProcessDistortionL2Pipeline, datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.distortion_solution.distortion_solution import (
    DistortionSolution,
    FrameStars,
    _match_each_other,
    _outliers,
    monomials,
    solve_distortion,
    vote_shift,
    windowed_centroids,
)
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.distortion import DistortionField

SIZE = 1024
DISTORTION_PIXELS = 10.0
#: A dense field: one star per 20 x 20 pixels; the dither step 15 % of the field.
STAR_DENSITY = 1 / 400
DITHER_FRACTION = 0.15
IRIS_SCALE = 0.004


@pytest.fixture(scope="module")
def dense_dither(tmp_path_factory):
    """Nine dithered 1024 x 1024 IRIS exposures of a dense field drawn through a 10-pixel distortion; the
    reference written beside them is an older solution (coefficients 3 % off)."""
    return simulate_observation(
        tmp_path_factory.mktemp("dense"), size=SIZE, n_stars=int(SIZE * SIZE * STAR_DENSITY), seed=3,
        dither_positions=9, dither_step=SIZE * IRIS_SCALE * DITHER_FRACTION, distortion_pixels=DISTORTION_PIXELS,
        distortion_reference_error=0.03,
    )


def calibration_steps(simulated, catalog=""):
    return {
        "dark_current": {"override_dark": str(simulated.dark)},
        "flat_field": {"override_flat": str(simulated.flat)},
        "distortion_solution": {"catalog": str(catalog)},
    }


def errors_against_truth(solution, truth_path, size=SIZE):
    """|D_solved - D_true| (pixels) on a 65 x 65 grid over the detector, its edges included."""
    x, y = np.meshgrid(np.linspace(-0.5, size - 0.5, 65), np.linspace(-0.5, size - 0.5, 65))
    with datamodels.open(truth_path) as truth:
        return np.hypot(*(np.array(solution(x, y)) - np.array(truth.model(x, y))))


def rms(values):
    return float(np.sqrt(np.mean(np.square(values))))


@pytest.fixture(scope="module")
def self_calibrated(dense_dither, tmp_path_factory):
    """The self-calibrated solution, saved under its reference name."""
    solution = ProcessDistortionL2Pipeline.call(list(map(str, dense_dither.raw)), steps=calibration_steps(dense_dither))
    directory = tmp_path_factory.mktemp("solved")
    path = directory / "solution.asdf"
    solution.save(path)
    return path


@pytest.mark.science
def test_self_calibration_recovers_the_true_distortion(self_calibrated, dense_dither):
    with datamodels.open(self_calibrated) as solution, datamodels.open(dense_dither.distortion) as older:
        report = solution.meta.distortion.instance
        errors = errors_against_truth(solution.model, dense_dither.true_distortion)
        older_errors = errors_against_truth(older.model, dense_dither.true_distortion)
        assert (solution.meta.instrument.detector, solution.meta.instrument.filter) == ("IMG1", "Ks")
        assert solution.meta.useafter == "2027-05-01T08:00:00"  # the first exposure's start
        x, y = np.meshgrid(np.linspace(0, SIZE - 1, 9), np.linspace(0, SIZE - 1, 9))
        back = solution.model.inverse(*solution.model(x, y))
    assert rms(errors) < 0.01 and errors.max() < 0.05, (rms(errors), errors.max())
    assert older_errors.max() > 5 * errors.max()  # the calibration improves on the older solution
    assert np.hypot(back[0] - x, back[1] - y).max() < 1e-3  # the reference carries its inverse
    assert report["method"] == "self-calibration" and report["n_frames"] == 9 and report["degree"] == 5
    assert report["n_stars"] > 1000 and report["n_detections"] > 4 * report["n_stars"]
    # Its own account of itself: residuals of the centroids' size, an uncertainty of the size of the error.
    assert 0.01 < report["rms_residual"] < 0.1
    assert report["uncertainty_rms"] / 3 < rms(errors) < 3 * report["uncertainty_rms"]
    assert report["uncertainty_max"] >= report["uncertainty_rms"]


@pytest.mark.science
def test_a_solution_against_a_catalogue_recovers_the_true_distortion(dense_dither, tmp_path):
    """A Gaia-like catalogue (0.1 mas per axis, 0.025 pixel) of the field."""
    catalog = tmp_path / "field.ecsv"
    reference_catalog(dense_dither.catalogs, catalog, noise_mas=0.1, seed=4)
    solution = ProcessDistortionL2Pipeline.call(
        list(map(str, dense_dither.raw)), steps=calibration_steps(dense_dither, catalog)
    )
    errors = errors_against_truth(solution.model, dense_dither.true_distortion)
    assert rms(errors) < 0.01 and errors.max() < 0.05, (rms(errors), errors.max())
    assert solution.meta.distortion.method == "catalog"
    assert solution.meta.distortion.uncertainty_rms / 3 < rms(errors) < 3 * solution.meta.distortion.uncertainty_rms


def test_one_frame_cannot_self_calibrate_and_the_error_names_it(dense_dither):
    with pytest.raises(StepInputError, match=r"SCI_LVL1_0001.fits and 0 more: no distortion solution: "
                       r"self-calibration needs at least 2 dithered frames"):
        DistortionSolutionStep.call([str(dense_dither.raw[0])])


def test_subarray_frames_are_refused(tmp_path):
    frame = describe(make_frame(np.zeros((64, 64))))
    frame.meta.subarray.name = "WINDOW"
    frame.meta.filename = "window.fits"
    with pytest.raises(StepInputError, match="window.fits: a distortion is solved from full frames, not subarray WINDOW"):
        DistortionSolutionStep.call([frame, frame.copy()])


def test_a_catalogue_of_another_field_fails_in_one_line(dense_dither, tmp_path):
    catalog = tmp_path / "elsewhere.ecsv"
    Table({"ra": [150.01, 150.011], "dec": [2.01, 2.011]}).write(catalog)  # 50" away
    with pytest.raises(StepInputError, match=r"no distortion solution: frame 0: no star within 40.0 pixels"):
        DistortionSolutionStep.call(list(map(str, dense_dither.raw[:2])), catalog=str(catalog))
    Table({"ra": [330.0], "dec": [-2.0]}).write(catalog, overwrite=True)  # the other side of the sky
    with pytest.raises(StepInputError, match="elsewhere.ecsv: no star of the catalogue lies on the frames' side of the sky"):
        DistortionSolutionStep.call(list(map(str, dense_dither.raw[:2])), catalog=str(catalog))


# The algorithm on exact, synthetic inputs.


def gaussian_image(shape, x0, y0, sigma, flux):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return flux / (2 * np.pi * sigma**2) * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))


def test_windowed_centroids_find_a_gaussian_star_and_its_error():
    x0, y0, sigma = 20.3, 17.8, 1.7
    image = gaussian_image((40, 40), x0, y0, sigma, 1.0e4)
    x, y, error = windowed_centroids(image, np.zeros(image.shape, bool), np.array([20.0]), np.array([18.0]), sigma, 1.0)
    assert abs(x[0] - x0) < 1e-4 and abs(y[0] - y0) < 1e-4
    # The error scales with the noise; a star next to an unusable pixel gets none.
    _, _, doubled = windowed_centroids(image, np.zeros(image.shape, bool), np.array([20.0]), np.array([18.0]), sigma, 2.0)
    assert doubled[0] == pytest.approx(2 * error[0])
    unusable = np.zeros(image.shape, bool)
    unusable[18, 21] = True
    x, _, error = windowed_centroids(image, unusable, np.array([20.0]), np.array([18.0]), sigma, 1.0)
    assert np.isnan(x[0]) and np.isnan(error[0])


def test_vote_shift_finds_the_offset_among_crowded_neighbours():
    rng = np.random.default_rng(1)
    fixed = rng.uniform(0, 500, (400, 2))
    moving = fixed[:300] - np.array([7.3, -4.1]) + rng.normal(0, 0.05, (300, 2))
    np.testing.assert_allclose(vote_shift(moving, fixed, 20.0), (7.3, -4.1), atol=0.02)


def synthetic_frames(field, shape, catalog, shifts, rotations):
    """Each frame's exact detector positions of the ``catalog`` stars (common plane = frame 0's ideal pixels)
    for frames displaced by ``shifts`` and turned by ``rotations``; nominal placements without them."""
    frames = []
    for (dx, dy), phi in zip(shifts, rotations):
        rotation = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
        # common = R (ideal) + shift  =>  ideal = R^T (common - shift)
        ideal = (catalog - np.array([dx, dy])) @ rotation
        inside = (ideal.min(axis=1) > 5) & (ideal.max(axis=1) < shape[0] - 6)
        x, y = field.ideal_to_detector(*ideal[inside].T)
        frames.append(FrameStars(x, y, np.full(len(x), 0.01), np.ones(len(x)), np.eye(2), np.zeros(2)))
    return frames


@pytest.mark.parametrize("with_catalog", [True, False])
def test_exact_detections_give_the_exact_distortion(with_catalog):
    """Noise-free positions of stars seen through the simulator's field from 9 frames whose pointing and
    rotation the placements do not know: the solution is the field itself (to 1e-6 pixel)."""
    shape = (512, 512)
    field = DistortionField.of(shape, 8.0, "Ks")
    rng = np.random.default_rng(2)
    catalog = rng.uniform(-60, 572, (3000, 2))
    steps = np.array([(i, j) for j in (-1, 0, 1) for i in (-1, 0, 1)], float) * 60.0
    shifts = steps + rng.normal(0, 4.0, steps.shape)
    rotations = rng.uniform(-2e-4, 2e-4, len(steps))
    if not with_catalog:
        shifts[0], rotations[0] = steps[0], 0.0  # the first frame is where its header says: the common plane
    frames = synthetic_frames(field, shape, catalog, shifts, rotations)
    for frame, step in zip(frames, steps):
        frame.offset = step  # the commanded dither, not the true one
    solution = solve_distortion(frames, shape, catalog=catalog if with_catalog else None)
    assert isinstance(solution, DistortionSolution)
    x, y = np.meshgrid(np.linspace(-0.5, 511.5, 33), np.linspace(-0.5, 511.5, 33))
    solved, true = np.array(solution.offsets(x, y)), np.array(field.offsets(x, y))
    assert np.abs(solved - true).max() < 1e-6
    np.testing.assert_allclose(solution.rotations, rotations, atol=1e-9)
    np.testing.assert_allclose(solution.shifts + steps, shifts, atol=1e-6)
    assert set(solution.coefficients) == set(monomials(5))
    assert solution.n_rejected == 0


def test_outliers_are_those_beyond_clip_sigma_times_the_typical_scatter():
    """chi^2 of 2 degrees of freedom against clip_sigma^2 times its median over 2 ln 2 (at least 1): a residual of
    (4, 3) sigma (5 in all) is rejected at 4 sigma and kept at 6; the typical scatter, not the weights, sets
    the scale."""
    rng = np.random.default_rng(7)
    residual = rng.normal(0, 1.0, (2000, 2))
    residual[0] = (4.0, 3.0)  # chi^2 = 25: beyond 4^2 x ~1, within 6^2 x ~1
    weight = np.ones(2000)
    assert _outliers(residual, weight, 4.0)[0] and not _outliers(residual, weight, 6.0)[0]
    # The same residuals with errors underestimated 3x: the median rescales them, that one is no outlier.
    wide = residual * 3.0
    wide[0] = (4.0, 3.0)
    assert not _outliers(wide, weight, 4.0)[0]
    assert np.mean(_outliers(residual, weight, 4.0)) < 0.002


def test_a_frame_gives_each_star_its_nearest_detection_only():
    """Two detections of the second frame near one star of the first: the nearer joins it, the other is a new star."""
    common = np.array([[10.0, 10.0], [10.3, 10.0], [10.1, 10.0], [50.0, 50.0]])
    frame = np.array([0, 1, 1, 1])
    star, positions = _match_each_other(common, frame, 1.0)
    assert star[2] == star[0] == 0 and star[1] not in (0, star[3])
    assert len(positions) == 3
