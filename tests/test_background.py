"""Background subtraction with sky exposures (BackgroundStep, SubtractImagesStep, the pipeline with an
association), checked against the simulator's truth and hand-computed arrays."""

import json

import numpy as np
import pytest
from astropy.table import Table

from frames import SHAPE, make_frame
from liger_iris_pipeline import BackgroundStep, ProcessImagerL2Pipeline, SubtractImagesStep, datamodels
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.science

FLAGS = datamodels.dqflags.pixel
N_SKY = 3


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """A 256x256 IRIS science frame with 40 stars and three dithered sky frames of an empty field."""
    return simulate_observation(
        tmp_path_factory.mktemp("sky"), instrument="IRIS", size=256, seed=21, n_stars=40, n_sky=N_SKY, sky_stars=0
    )


@pytest.fixture(scope="module")
def crowded_sky(tmp_path_factory):
    """As ``field``, but the sky field has 40 stars of its own, many bright."""
    return simulate_observation(tmp_path_factory.mktemp("crowded"), instrument="IRIS", size=256, seed=22, n_stars=40, n_sky=N_SKY)


def expected_difference(field):
    """What sky subtraction should leave, from the truth: F x (S - sky), the stars through the true flat."""
    with datamodels.open(field.truth[0]) as scene, datamodels.open(field.true_flat) as flat:
        sky = Table.read(field.catalogs[0]).meta["sky_rate"]
        return flat.data * (scene.data - sky), scene.data - sky


def box_sums(image, x, y, half=8):
    return np.array([image[int(round(b)) - half : int(round(b)) + half + 1, int(round(a)) - half : int(round(a)) + half + 1].sum() for a, b in zip(x, y)])


def test_sky_subtracted_frame_is_the_stars_alone(field):
    result = BackgroundStep.call(str(field.raw[0]), list(map(str, field.sky)))
    assert result.meta.cal_step.background == "COMPLETE"
    expected, stars = expected_difference(field)
    # Away from stars the median is 0 within its error (median of n values: sqrt(pi/2) sigma / sqrt(n)).
    empty = stars < 1e-3
    median_error = np.sqrt(np.pi / 2) * np.sqrt(np.mean(result.err[empty] ** 2) / empty.sum())
    assert abs(np.median(result.data[empty])) < 3 * median_error
    # ERR describes the residual against the truth.
    pulls = (result.data - expected) / result.err
    assert np.std(pulls[empty]) == pytest.approx(1.0, abs=0.05)
    # Every star's flux (a box of 17x17 pixels) unchanged within 3 sigma.
    catalog = Table.read(field.catalogs[0])
    inside = (catalog["x"] > 10) & (catalog["x"] < 245) & (catalog["y"] > 10) & (catalog["y"] < 245)
    x, y = catalog["x"][inside], catalog["y"][inside]
    measured, true = box_sums(result.data, x, y), box_sums(expected, x, y)
    sigma = np.sqrt(box_sums(result.err.astype(np.float64) ** 2, x, y))
    assert np.all(np.abs(measured - true) < 3 * sigma), (measured - true) / sigma


def sky_star_holes(field, result):
    """(result - truth) / sigma in 17x17 boxes at the bright stars of the sky frames."""
    expected, _ = expected_difference(field)
    holes = []
    for catalog_path in (path.with_name(path.name.replace(".fits", "_catalog.ecsv")) for path in field.sky):
        catalog = Table.read(catalog_path)
        bright = (catalog["flux"] > 2000) & (catalog["x"] > 10) & (catalog["x"] < 245) & (catalog["y"] > 10) & (catalog["y"] < 245)
        x, y = catalog["x"][bright], catalog["y"][bright]
        sigma = np.sqrt(box_sums(result.err.astype(np.float64) ** 2, x, y))
        holes.extend((box_sums(result.data, x, y) - box_sums(expected, x, y)) / sigma)
    return np.array(holes)


def test_bright_stars_of_the_sky_frames_are_clipped(crowded_sky):
    skies = list(map(str, crowded_sky.sky))
    # Where a sky frame has a bright star, the background is still the sky: no hole in the result.
    holes = sky_star_holes(crowded_sky, BackgroundStep.call(str(crowded_sky.raw[0]), skies))
    assert len(holes) >= 3
    assert np.all(np.abs(holes) < 3), holes
    # Rejecting only the pixels beyond 3 sigma leaves the stars' faint wings in the background.
    ungrown = sky_star_holes(crowded_sky, BackgroundStep.call(str(crowded_sky.raw[0]), skies, grow=0))
    assert np.min(ungrown) < -3, ungrown


def test_pipeline_with_an_association_subtracts_the_sky_first(field, tmp_path):
    directory = field.raw[0].parent
    members = [{"expname": field.raw[0].name, "exptype": "science"}]
    members += [{"expname": path.name, "exptype": "background"} for path in field.sky]
    asn = directory / "field_asn.json"
    asn.write_text(json.dumps({"asn_type": "image2", "asn_rule": "test", "products": [{"name": "field", "members": members}]}))
    steps = {
        "dq_init": {"override_mask": str(field.mask)},
        "flat_field": {"override_flat": str(field.flat)},
        "assign_wcs": {"override_distortion": "N/A"},
    }
    (cal,) = ProcessImagerL2Pipeline.call(str(asn), steps=steps)
    assert cal.meta.cal_step.background == "COMPLETE"
    assert cal.meta.cal_step.dark_current == "SKIPPED"  # the sky frames carried the same dark current
    _, stars = expected_difference(field)
    good = (cal.dq == 0) & (stars < 1e-3)
    assert abs(np.median(cal.data[good])) < 3 * np.sqrt(np.pi / 2) * np.sqrt(np.mean(cal.err[good] ** 2) / good.sum())
    # Without background members nothing changes: no background status, the dark is subtracted.
    plain = ProcessImagerL2Pipeline.call(str(field.raw[0]), steps={**steps, "dark_current": {"override_dark": str(field.dark)}})
    assert plain.meta.cal_step.background is None and plain.meta.cal_step.dark_current == "COMPLETE"


def test_subtract_images_by_hand():
    a = make_frame(np.full(SHAPE, 10.0), err=np.full(SHAPE, 3.0), dq=np.eye(*SHAPE, dtype=np.uint32) * FLAGS["HOT"])
    b_dq = np.zeros(SHAPE, np.uint32)
    b_dq[0, 5] = FLAGS["WARM"]
    b = make_frame(np.arange(48.0).reshape(SHAPE), err=np.full(SHAPE, 4.0), dq=b_dq)
    result = SubtractImagesStep.call(a, b)
    np.testing.assert_allclose(result.data, 10.0 - np.arange(48.0).reshape(SHAPE))
    np.testing.assert_allclose(result.err, 5.0)
    expected_dq = np.eye(*SHAPE, dtype=np.uint32) * FLAGS["HOT"]
    expected_dq[0, 5] |= FLAGS["WARM"]
    np.testing.assert_array_equal(result.dq, expected_dq)
    assert result.meta.cal_step.subtract_images == "COMPLETE"
    np.testing.assert_array_equal(a.data, 10.0)  # the caller's frame is untouched
