"""The ``distortion`` reference type: an ASDF file of astropy transforms, its data model, the store and CRDS."""

import asdf
import numpy as np
import pytest
from astropy.modeling import models
from astropy.table import Table

from crds_helpers import FRAME, select
from frames import describe, make_frame
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_names import reference_file_name
from liger_iris_pipeline.reference_store import StoreError, add_references, fetch_references
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.distortion import DistortionField

SHAPE = (512, 512)


def distortion_reference(directory, instrument="IRIS", filter_name="Ks", useafter="2020-01-01T00:00:00", version=1):
    """A distortion reference of the simulator's field, saved under its conventional name; its path."""
    reference = describe(datamodels.DistortionModel(), instrument, "DISTORTION")
    reference.model = DistortionField.of(SHAPE, 5.0, filter_name).transform()
    reference.meta.instrument.filter = filter_name
    reference.meta.useafter = useafter
    path = directory / reference_file_name(reference, version)
    reference.save(path)
    return path


def test_distortion_reference_round_trips_its_transform_and_inverse(tmp_path):
    path = distortion_reference(tmp_path)
    assert path.name == "IRIS_IMG1_DISTORTION_20200101T000000_1.asdf"
    assert datamodels.reference_identity(path) == {"REFTYPE": "DISTORTION", "DATAMODL": "DistortionModel"}
    field = DistortionField.of(SHAPE, 5.0, "Ks")
    x, y = np.meshgrid(np.linspace(-0.5, 511.5, 33), np.linspace(-0.5, 511.5, 33))
    with datamodels.open(path) as reference:
        assert isinstance(reference, datamodels.DistortionModel)
        assert (reference.meta.instrument.detector, reference.meta.instrument.filter) == ("IMG1", "Ks")
        ideal = reference.model(x, y)
        back = reference.model.inverse(*ideal)
    np.testing.assert_allclose(ideal, field.detector_to_ideal(x, y), atol=1e-9)
    assert np.hypot(back[0] - x, back[1] - y).max() < 1e-3
    assert reference.model(255.5, 255.5) == pytest.approx((255.5, 255.5), abs=1e-12)  # the centre stays put


def test_open_refuses_an_asdf_file_that_is_no_usable_distortion(tmp_path):
    not_asdf = tmp_path / "broken.asdf"
    not_asdf.write_text("not asdf")
    with pytest.raises(datamodels.DataModelError, match="broken.asdf: not a readable ASDF file"):
        datamodels.open(not_asdf)
    one_axis = describe(datamodels.DistortionModel(), "IRIS", "DISTORTION")
    one_axis.model = models.Shift(1.0)
    one_axis.save(tmp_path / "one_axis.asdf")
    with pytest.raises(datamodels.DataModelError, match=r"one_axis.asdf: model is not a transform of \(x, y\)"):
        datamodels.open(tmp_path / "one_axis.asdf")
    no_inverse = describe(datamodels.DistortionModel(), "IRIS", "DISTORTION")
    no_inverse.model = models.Mapping((0, 1, 0, 1)) | models.Polynomial2D(2) & models.Polynomial2D(2)
    no_inverse.save(tmp_path / "no_inverse.asdf")
    with pytest.raises(datamodels.DataModelError, match="no_inverse.asdf: model has no inverse"):
        datamodels.open(tmp_path / "no_inverse.asdf")
    with asdf.open(tmp_path / "no_inverse.asdf") as tree:
        assert tree.tree["meta"]["reftype"] == "DISTORTION"


def test_schema_requires_the_model(tmp_path):
    empty = describe(datamodels.DistortionModel(strict_validation=True), "IRIS", "DISTORTION")
    with pytest.raises(Exception, match="'model' is a required property"):
        empty.save(tmp_path / "empty.asdf")


@pytest.mark.science
def test_crds_selects_the_distortion_by_detector_filter_and_date(tmp_path):
    references = [
        distortion_reference(tmp_path),
        distortion_reference(tmp_path, filter_name="H", version=2),
        distortion_reference(tmp_path, useafter="2027-01-01T00:00:00"),
        distortion_reference(tmp_path, instrument="LIGER"),
    ]
    store = tmp_path / "store"
    assert add_references(store, references, "distortions") == "ligeriri_0001.pmap"
    cases = [
        ({}, "IRIS_IMG1_DISTORTION_20200101T000000_1.asdf"),
        ({"META.OBSERVATION.DATE": "2027-06-01"}, "IRIS_IMG1_DISTORTION_20270101T000000_1.asdf"),
        ({"META.INSTRUMENT.FILTER": "H"}, "IRIS_IMG1_DISTORTION_20200101T000000_2.asdf"),
        ({"META.INSTRUMENT.FILTER": "J"}, "NOT FOUND"),  # no solution for that filter
        ({"META.INSTRUMENT.DETECTOR": "IMG2"}, "NOT FOUND"),
        ({"META.INSTRUMENT.NAME": "LIGER", "META.INSTRUMENT.DETECTOR": "IMG"}, "Liger_IMG_DISTORTION_20200101T000000_1.asdf"),
    ]
    answers = select(store, [{**FRAME, **change} for change, _ in cases], ["distortion", "flat"])
    assert [answer["distortion"][: len(expected)] for answer, (_, expected) in zip(answers, cases)] == [
        expected for _, expected in cases
    ]
    assert {answer["flat"] for answer in answers} == {"NOT FOUND n/a"}  # the other types stay N/A


def test_fetch_copies_the_selected_distortion_into_the_cache(tmp_path):
    store = tmp_path / "store"
    add_references(store, [distortion_reference(tmp_path)], "distortion")
    frame = describe(make_frame(np.zeros(SHAPE)))
    frame.save(tmp_path / "frame.fits")
    cache = tmp_path / "cache"
    result = fetch_references(store, [tmp_path / "frame.fits"], cache)
    name = "IRIS_IMG1_DISTORTION_20200101T000000_1.asdf"
    assert result.bestrefs[str(tmp_path / "frame.fits")]["distortion"] == name
    assert (cache / "references" / "ligeriri" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_store_refuses_a_distortion_named_for_another_detector(tmp_path):
    path = distortion_reference(tmp_path)
    renamed = path.rename(tmp_path / "IRIS_IMG2_DISTORTION_20200101T000000_1.asdf")
    with pytest.raises(StoreError, match="the name says IRIS IMG2 DISTORTION"):
        add_references(tmp_path / "store", [renamed])


@pytest.fixture(scope="module")
def distorted(tmp_path_factory):
    """A simulated 512 x 512 IRIS frame drawn through an 8-pixel distortion, its reference an older solution."""
    return simulate_observation(
        tmp_path_factory.mktemp("distorted"), size=512, n_stars=60, seed=5, distortion_pixels=8.0,
        distortion_reference_error=0.03,
    )


@pytest.mark.science
def test_simulated_stars_are_drawn_where_the_true_distortion_puts_them(distorted):
    catalog = Table.read(distorted.catalogs[0], format="ascii.ecsv")
    with datamodels.open(distorted.true_distortion) as truth:
        ideal = truth.model(catalog["x"], catalog["y"])
    np.testing.assert_allclose(ideal, (catalog["x_ideal"], catalog["y_ideal"]), atol=1e-6)
    displacement = np.hypot(catalog["x"] - catalog["x_ideal"], catalog["y"] - catalog["y_ideal"])
    assert displacement.max() > 2.0  # stars towards the corners move by pixels
    # The noise-free image has each isolated star's light centred on its detector position.
    with datamodels.ImagerModel(str(distorted.truth[0])) as scene:
        image = scene.data - 5.0  # the sky rate
    half = 9
    checked = 0
    for star in catalog[np.argsort(catalog["flux"])[::-1]]:
        x0, y0 = int(round(star["x"])), int(round(star["y"]))
        neighbours = np.hypot(catalog["x"] - star["x"], catalog["y"] - star["y"])
        if min(x0, y0) < half or max(x0, y0) > 511 - half or np.sort(neighbours)[1] < 3 * half:
            continue
        yy, xx = np.mgrid[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1]
        stamp = image[yy, xx]
        centroid = (np.sum(xx * stamp) / stamp.sum(), np.sum(yy * stamp) / stamp.sum())
        assert np.hypot(centroid[0] - star["x"], centroid[1] - star["y"]) < 0.01
        checked += 1
    assert checked >= 5


@pytest.mark.science
def test_the_older_solution_misses_the_truth_by_a_few_percent(distorted):
    x, y = np.meshgrid(np.linspace(-0.5, 511.5, 33), np.linspace(-0.5, 511.5, 33))
    with datamodels.open(distorted.distortion) as older, datamodels.open(distorted.true_distortion) as truth:
        assert "older distortion solution" in older.meta.description
        miss = np.hypot(*(np.array(older.model(x, y)) - np.array(truth.model(x, y))))
        amplitude = np.hypot(*(np.array(truth.model(x, y)) - np.array((x, y))))
    assert amplitude.max() == pytest.approx(8.0, rel=1e-3)
    assert 0.01 * amplitude.max() < miss.max() < 0.15 * amplitude.max()


def test_the_distortion_depends_a_little_on_the_filter():
    x, y = np.meshgrid(np.linspace(-0.5, 4095.5, 17), np.linspace(-0.5, 4095.5, 17))
    ks, h = (DistortionField.of((4096, 4096), 10.0, name) for name in ("Ks", "H"))
    difference = np.hypot(*(np.array(ks.detector_to_ideal(x, y)) - np.array(h.detector_to_ideal(x, y))))
    assert 0.005 < difference.max() < 0.1  # pixels, of 10 at the corners
    assert ks.detector_to_ideal(2047.5, 2047.5) == (2047.5, 2047.5)  # the centre stays put


def test_without_the_option_no_distortion_is_drawn_or_written(tmp_path):
    result = simulate_observation(tmp_path, size=64, n_stars=3, seed=1)
    assert result.distortion is None and result.true_distortion is None
    assert not list(tmp_path.glob("*.asdf"))
    assert Table.read(result.catalogs[0], format="ascii.ecsv").colnames == ["id", "ra", "dec", "x", "y", "flux"]
    with pytest.raises(ValueError, match="distortion_reference_error needs distortion_pixels"):
        simulate_observation(tmp_path, size=64, distortion_reference_error=0.1)
