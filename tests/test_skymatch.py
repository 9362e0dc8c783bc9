"""SkyMatchStep and its algorithm: hand-computed statistics and level solutions, and known sky offsets added
to the calibrated frames of a simulated dither recovered, locally and by matching."""

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats
from astropy.table import Table

from dithered import calibrate_dither
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.skymatch.skymatch import SkyStatistic, frame_samples, match_levels, pair_differences
from liger_iris_pipeline.skymatch.skymatch_step import SkyMatchStep

#: Sky offsets (DN/s) added to the frames of the dither.
OFFSETS = np.array([0.0, 3.0, -2.0, 1.5])


def test_clipped_statistics_by_hand():
    # [1, 1, 2, 3, 100]: mean 21.4, std 39.3 -> 100 clipped at 1.5 sigma; [1, 1, 2, 3]: mean 1.75, std 0.83
    # -> 3 clipped; [1, 1, 2]: mean 4/3, std 0.47 keeps all. Median 1, mode 3 * 1 - 2 * 4/3 = 1/3.
    values = [1.0, 1.0, 2.0, 3.0, 100.0]
    clipped = {stat: SkyStatistic(stat, nclip=5, lsigma=1.5, usigma=1.5)(values) for stat in ("mean", "median", "mode")}
    assert clipped == pytest.approx({"mean": 4 / 3, "median": 1.0, "mode": 1 / 3})
    assert SkyStatistic("mean", nclip=0)(values) == pytest.approx(21.4)
    assert SkyStatistic("mean", lower=1.5, upper=50.0, nclip=0)(values) == pytest.approx(2.5)
    assert np.isnan(SkyStatistic("median")([np.nan]))


def test_levels_from_pair_differences_by_hand():
    # Frames 0, 1, 2 at sky 0, 2, 3 (differences L_i - L_j), frame 3 overlapping none; one inconsistent,
    # lightly weighted pair barely moves the solution.
    pairs = [(0, 1, -2.0, 1000), (1, 2, -1.0, 1000), (0, 2, -3.0, 1000), (0, 2, -4.0, 1)]
    levels, groups = match_levels(4, pairs)
    np.testing.assert_allclose(levels, [0.0, 2.0, 3.0, 0.0], atol=2e-3)
    assert sorted(groups) == [[0, 1, 2], [3]]


def test_pair_differences_in_the_overlap_only():
    # Two 40 x 40 frames at sky 5 and 7, the second shifted 20 pixels in x: they share 20 x 40 pixels.
    first, second = np.full((40, 40), 5.0), np.full((40, 40), 7.0)
    usable = np.ones((40, 40), bool)
    samples = [
        frame_samples(first, usable, lambda x, y: (x, y), 1),
        frame_samples(second, usable, lambda x, y: (x + 20, y), 1),
    ]
    ((i, j, difference, weight),) = pair_differences(samples, SkyStatistic("median"))
    assert (i, j, difference, weight) == (0, 1, -2.0, 20 * 40)


@pytest.fixture(scope="module")
def offset_frames(tmp_path_factory):
    """The 4-point dither's calibrated frames with OFFSETS added, and the simulated sky rate."""
    dither = calibrate_dither(tmp_path_factory.mktemp("sky"), positions=4)
    models = []
    for path, offset in zip(dither.cal, OFFSETS):
        model = datamodels.open(path)
        model.data += np.float32(offset)
        models.append(model)
    return models, Table.read(dither.simulated.catalogs[0]).meta["sky_rate"]


def sky_levels(library):
    levels = []
    for index in range(len(library)):
        with library.frame(index) as model:
            assert model.meta.cal_step.skymatch == "COMPLETE"
            levels.append(model.meta.background.level)
    return np.array(levels)


def statistic_error(model):
    """Standard error of the clipped mode (3 median - 2 mean) of a frame's sky: about 5.75 sigma / sqrt(N)."""
    _, _, sky_noise = sigma_clipped_stats(model.data, sigma=4.0)
    return 5.75 * sky_noise / np.sqrt(model.data.size)


@pytest.mark.science
def test_local_levels_recover_each_frames_sky(offset_frames):
    models, sky_rate = offset_frames
    levels = sky_levels(SkyMatchStep.call(models, skymethod="local"))
    tolerance = 5 * statistic_error(models[0])
    print(f"local: level - offset - sky {levels - OFFSETS - sky_rate}, tolerance {tolerance:.3f}")
    np.testing.assert_allclose(levels - OFFSETS, sky_rate, atol=tolerance)


@pytest.mark.science
@pytest.mark.parametrize("method", ["match", "global+match"])
def test_matched_levels_recover_the_sky_offsets(offset_frames, method):
    models, sky_rate = offset_frames
    levels = sky_levels(SkyMatchStep.call(models, skymethod=method))
    tolerance = 5 * statistic_error(models[0]) * 2  # overlaps hold about a quarter of each frame
    # match: the lowest frame at 0; global+match: plus that frame's sky, sky_rate + its offset
    expected = OFFSETS - OFFSETS.min() + (sky_rate + OFFSETS.min() if method == "global+match" else 0.0)
    print(f"{method}: level - expected {levels - expected}, tolerance {tolerance:.3f}")
    np.testing.assert_allclose(levels, expected, atol=tolerance)


def test_subtraction_takes_the_level_off_sci(offset_frames):
    models, _ = offset_frames
    library = SkyMatchStep.call(models[:2], skymethod="local", subtract=True)
    for index, model in enumerate(models[:2]):
        with library.frame(index) as subtracted:
            assert subtracted.meta.background.subtracted is True
            np.testing.assert_allclose(subtracted.data, model.data - np.float32(subtracted.meta.background.level), atol=1e-5)


def test_the_frames_of_one_exposure_share_one_level_and_connect_the_detectors():
    """Two detectors that never overlap, three exposures: detector A overlaps itself between exposures 1 and 2,
    B between 2 and 3. One level per exposure ties all six frames into one group with the exposures' true sky
    (lowest 0); matched frame by frame, A and B are two groups, each with its own zero."""
    sky = {1: 0.2, 2: 0.5, 3: 0.1}
    frames = [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2), ("B", 3)]
    pairs = [(0, 1, sky[1] - sky[2], 500), (4, 5, sky[2] - sky[3], 500)]
    levels, groups = match_levels(6, pairs, [exposure for _, exposure in frames])
    np.testing.assert_allclose(levels, [sky[exposure] - 0.1 for _, exposure in frames], atol=1e-12)
    assert groups == [[0, 1, 2, 3, 4, 5]]
    _, alone = match_levels(6, pairs)
    assert len(alone) == 4
