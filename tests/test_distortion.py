"""The ``distortion`` reference type: an ASDF file of astropy transforms, its data model, the store and CRDS."""

import logging
import subprocess
import sys
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.modeling import models
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from crds_helpers import FRAME, crds_environment, select
from dithered import bright_offsets, calibrate_dither, matched_sources, reference_catalog, run_image3
from frames import describe, make_frame
from liger_iris_pipeline import AssignWcsStep, datamodels
from liger_iris_pipeline.assign_wcs import assign_wcs_step
from liger_iris_pipeline.assign_wcs.imager_wcs import SipApproximation, imaging_gwcs, sip_keywords
from liger_iris_pipeline.reference_names import reference_file_name
from liger_iris_pipeline.reference_store import Store, StoreError, add_references, fetch_references
from liger_iris_pipeline.reference_store.layout import sha1
from liger_iris_pipeline.reference_store.mappings import dict_selector, mapping_text
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.resample import drizzle_frames
from liger_iris_pipeline.simulator.distortion import DistortionField
from liger_iris_pipeline.tweakreg.wcs_correction import GWCSCorrector, corrected_fits_keywords

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


def centroids(simulated, half=9):
    """(catalogue rows, x, y): the centroids of the isolated stars (no other within 3 ``half``) of the first
    exposure's noise-free image in a (2 ``half`` + 1)**2 box, the sky subtracted."""
    catalog = Table.read(simulated.catalogs[0], format="ascii.ecsv")
    with datamodels.ImagerModel(str(simulated.truth[0])) as scene:
        image = scene.data - 5.0  # the sky rate
    ny, nx = image.shape
    rows, x, y = [], [], []
    for index, star in enumerate(catalog):
        x0, y0 = int(round(star["x"])), int(round(star["y"]))
        neighbours = np.hypot(catalog["x"] - star["x"], catalog["y"] - star["y"])
        if min(x0, y0) < half or x0 > nx - 1 - half or y0 > ny - 1 - half or np.sort(neighbours)[1] < 3 * half:
            continue
        yy, xx = np.mgrid[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1]
        stamp = image[yy, xx]
        rows.append(index)
        x.append(np.sum(xx * stamp) / stamp.sum())
        y.append(np.sum(yy * stamp) / stamp.sum())
    return catalog[rows], np.array(x), np.array(y)


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
    stars, x, y = centroids(distorted)
    assert len(stars) >= 5
    assert np.hypot(x - stars["x"], y - stars["y"]).max() < 0.01


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


# AssignWcsStep with a distortion reference.


def sky_offsets_pixels(frame_wcs, x, y, ra, dec, pixel_scale=0.004):
    """Distances (pixels) between ``frame_wcs`` at pixels (x, y) and the true (ra, dec)."""
    ra_wcs, dec_wcs = frame_wcs(x, y, with_bounding_box=False)
    east = ((ra_wcs - ra + 180.0) % 360.0 - 180.0) * np.cos(np.deg2rad(dec))
    return np.hypot(east, dec_wcs - dec) * 3600.0 / pixel_scale


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """A 512 x 512 IRIS frame at PA 30 deg drawn through a 6-pixel distortion (true reference)."""
    return simulate_observation(
        tmp_path_factory.mktemp("rotated"), size=512, n_stars=80, seed=9, pa_deg=30.0, pointing=(210.0, -30.0),
        distortion_pixels=6.0,
    )


@pytest.fixture(scope="module")
def calibrated(rotated, tmp_path_factory):
    """The frame through AssignWcsStep with its true distortion reference, saved."""
    path = tmp_path_factory.mktemp("calibrated") / "frame_cal.fits"
    AssignWcsStep.call(str(rotated.raw[0]), override_distortion=str(rotated.distortion)).save(path)
    return path


@pytest.mark.science
def test_measured_star_positions_map_to_the_true_sky_through_the_distortion(rotated, distorted):
    """Isolated stars' centroids on the noise-free image, through the gWCS: on their true positions with the
    true distortion; off by the distortion's amplitude without one; off by a few per cent of it with the older
    solution."""
    for simulated in (rotated, distorted):
        stars, x, y = centroids(simulated)
        assert len(stars) >= 8
        distortion_amplitude = np.hypot(stars["x"] - stars["x_ideal"], stars["y"] - stars["y_ideal"])
        errors = {}
        for name, reference in (("true", simulated.true_distortion), ("none", "N/A"), ("older", simulated.distortion)):
            frame = AssignWcsStep.call(str(simulated.raw[0]), override_distortion=str(reference))
            errors[name] = sky_offsets_pixels(frame.meta.wcs, x, y, stars["ra"], stars["dec"])
        rms = {name: float(np.sqrt(np.mean(error**2))) for name, error in errors.items()}
        assert rms["true"] < 0.005
        assert rms["none"] == pytest.approx(np.sqrt(np.mean(distortion_amplitude**2)), rel=0.05)
        assert rms["none"] > 0.3
        if simulated is distorted:  # its reference is the older solution (coefficients 3 % off)
            assert 0.005 < rms["older"] < 0.15 * rms["none"]
        # The catalogue's own detector positions, where the stars were drawn: exact.
        frame = AssignWcsStep.call(str(simulated.raw[0]), override_distortion=str(simulated.true_distortion))
        assert sky_offsets_pixels(frame.meta.wcs, stars["x"], stars["y"], stars["ra"], stars["dec"]).max() < 1e-4


@pytest.mark.science
def test_the_sip_header_follows_the_gwcs_everywhere_on_the_frame(calibrated):
    header = fits.getheader(calibrated, "SCI")
    assert (header["CTYPE1"], header["CTYPE2"]) == ("RA---TAN-SIP", "DEC--TAN-SIP")
    assert header["A_ORDER"] >= 2 and header["B_ORDER"] == header["A_ORDER"]
    x, y = np.meshgrid(np.linspace(-0.5, 511.5, 257), np.linspace(-0.5, 511.5, 257))
    with datamodels.open(calibrated) as model:
        assert model.meta.wcs.available_frames == ["detector", "ideal", "icrs"]
        assert (model.meta.cal_step.assign_wcs, model.meta.cal_step.distortion) == ("COMPLETE", "COMPLETE")
        assert model.meta.ref_file.distortion.name == "IRIS_IMG1_DISTORTION_20200101T000000_1.asdf"
        ra, dec = WCS(header).all_pix2world(x, y, 0)
        error = sky_offsets_pixels(model.meta.wcs, x, y, ra, dec)
    assert error.max() < 0.01
    assert header["SIPMXERR"] >= 0.5 * error.max()  # measured on a grid of its own
    assert header["SIPMXERR"] < 0.01
    assert fits.getheader(calibrated)["R_DISTOR"] == "IRIS_IMG1_DISTORTION_20200101T000000_1.asdf"


@pytest.mark.science
def test_the_sip_approximation_of_a_whole_iris_detector_at_a_realistic_distortion():
    """10 pixels (40 mas) at the corners of a 4096 x 4096 IRIS detector: the SIP header, read by astropy.wcs,
    within 0.01 pixel of the gWCS everywhere, and SIPMXERR no smaller than the error found here."""
    shape, crpix, scale, pa, pointing = (4096, 4096), (2048.5, 2048.5), 0.004 / 3600.0, 37.0, (150.0, 2.0)
    distortion = DistortionField.of(shape, 10.0, "Ks").transform()
    approximation = SipApproximation.fit(distortion, crpix, scale, shape)
    keywords, coefficients = sip_keywords(approximation, crpix, pointing, scale, pa)
    header = fits.Header({key.upper(): value for key, value in keywords.items() if key != "sip_max_error"})
    header.update(coefficients)
    frame_wcs = imaging_gwcs(crpix, pointing, scale, pa, shape, distortion)
    x, y = np.meshgrid(np.linspace(-0.5, 4095.5, 129), np.linspace(-0.5, 4095.5, 129))
    ra, dec = WCS(header).all_pix2world(x, y, 0)
    error = sky_offsets_pixels(frame_wcs, x, y, ra, dec)
    assert error.max() < 0.01
    assert keywords["sip_max_error"] >= 0.5 * error.max()


def test_one_sip_fit_serves_every_frame_of_a_reference(rotated, monkeypatch):
    fits_made = []
    fit = SipApproximation.fit.__func__

    def counting_fit(cls, *args):
        fits_made.append(args[1:])
        return fit(cls, *args)

    monkeypatch.setattr(SipApproximation, "fit", classmethod(counting_fit))
    monkeypatch.setattr(assign_wcs_step, "_sip_fits", type(assign_wcs_step._sip_fits)())
    for pa in (0.0, 30.0, 200.0):
        with datamodels.open(rotated.raw[0]) as frame:
            frame.meta.pointing.pa = pa
            result = AssignWcsStep.call(frame, override_distortion=str(rotated.distortion))
        stars = Table.read(rotated.catalogs[0], format="ascii.ecsv")
        if pa == 30.0:
            assert sky_offsets_pixels(result.meta.wcs, stars["x"], stars["y"], stars["ra"], stars["dec"]).max() < 1e-4
    assert len(fits_made) == 1


def test_a_frame_run_again_without_the_distortion_loses_its_sip_keywords(calibrated, tmp_path):
    path = tmp_path / "again_cal.fits"
    AssignWcsStep.call(str(calibrated), override_distortion="N/A").save(path)
    sci = fits.getheader(path, "SCI")
    assert sci["CTYPE1"] == "RA---TAN" and "A_ORDER" not in sci and "AP_ORDER" not in sci and "SIPMXERR" not in sci
    assert fits.getheader(path)["S_DISTOR"] == "SKIPPED"


def test_without_a_distortion_reference_the_wcs_is_tan_and_says_so(rotated, tmp_path, caplog):
    path = tmp_path / "frame_cal.fits"
    with caplog.at_level(logging.WARNING):
        AssignWcsStep.call(str(rotated.raw[0]), override_distortion="N/A").save(path)
    assert "no distortion reference applies: the WCS is a TAN projection without geometric distortion" in caplog.text
    primary, sci = fits.getheader(path), fits.getheader(path, "SCI")
    assert (primary["S_WCS"], primary["S_DISTOR"], primary["R_DISTOR"]) == ("COMPLETE", "SKIPPED", "N/A")
    assert sci["CTYPE1"] == "RA---TAN" and "A_ORDER" not in sci and "SIPMXERR" not in sci
    with datamodels.open(path) as model:
        assert model.meta.wcs.available_frames == ["detector", "icrs"]


def test_resampling_and_alignment_go_through_the_distortion(calibrated, rotated):
    """drizzle's fast projective pixel map is for linear-to-TAN gWCSs only; tweakreg's tangent-plane correction
    goes after the distortion, and the header it rewrites (CRVAL, PC, with the SIP kept) still follows the gWCS."""
    with datamodels.open(calibrated) as model:
        frame_wcs = model.meta.wcs
        crpix = (model.meta.wcsinfo.crpix1, model.meta.wcsinfo.crpix2)
        cdelt = (model.meta.wcsinfo.cdelt1, model.meta.wcsinfo.cdelt2)
        header = fits.getheader(calibrated, "SCI")
    assert not drizzle_frames._is_linear_to_tan(frame_wcs.forward_transform)
    plain = AssignWcsStep.call(str(rotated.raw[0]), override_distortion="N/A").meta.wcs
    assert drizzle_frames._is_linear_to_tan(plain.forward_transform)

    corrector = GWCSCorrector(frame_wcs)
    corrector.set_correction(matrix=[[1.0, 2e-4], [-2e-4, 1.0]], shift=(0.004, -0.002))  # arcsec
    corrected = corrector.wcs
    assert corrected.available_frames == ["detector", "ideal", "icrs"]
    x, y = np.meshgrid(np.linspace(0, 511, 17), np.linspace(0, 511, 17))
    np.testing.assert_allclose(
        corrected.get_transform("detector", "ideal")(x, y), frame_wcs.get_transform("detector", "ideal")(x, y)
    )
    moved = sky_offsets_pixels(corrected, x, y, *frame_wcs(x, y))
    assert 0.5 < moved.min() and moved.max() < 2.0  # ~1.1 pixel of shift, plus the rotation
    keywords = corrected_fits_keywords(corrected, crpix, cdelt, (512, 512))
    for key, value in keywords.items():
        header[key.upper()] = value
    ra, dec = WCS(header).all_pix2world(x, y, 0)
    assert sky_offsets_pixels(corrected, x, y, ra, dec).max() < 0.01


def test_a_context_from_before_the_distortion_type_leaves_a_tan_wcs(tmp_path):
    """A store's context written before the type existed has no DISTORTION in its imap: N/A, not an error."""
    store = Store(tmp_path / "store")
    add_references(store.root, [distortion_reference(tmp_path)])
    imap = "ligeriri_iris_0001.imap"
    header, selector = store.read_mapping(imap)
    del selector["DISTORTION"], header["sha1sum"]
    (store.mappings / imap).write_text(mapping_text(header, dict_selector(selector)))
    config = store.server_config()
    config["download_metadata"][imap] = {"size": (store.mappings / imap).stat().st_size, "sha1sum": sha1(store.mappings / imap)}
    store.config_path.write_text(repr(config))
    raw = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"
    make_frame(np.zeros((8, 8))).save(raw)
    tmtrun = str(Path(sys.executable).parent / "tmtrun")
    result = subprocess.run(
        [tmtrun, "assign_wcs", str(raw), f"--output-dir={tmp_path}"], capture_output=True, text=True,
        env=crds_environment(store.root),
    )
    assert result.returncode == 0, result.stderr
    assert "the CRDS context has no distortion rules: N/A" in result.stderr
    header = fits.getheader(tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits")
    assert (header["S_DISTOR"], header["R_DISTOR"]) == ("SKIPPED", "N/A")


def test_stars_far_off_the_detector_stay_at_their_ideal_position():
    """A dithered mosaic's field reaches far beyond one detector, where the polynomial is not defined."""
    field = DistortionField.of(SHAPE, 8.0, "Ks")
    x, y = field.ideal_to_detector(np.array([-3000.0, 5000.0, 100.0]), np.array([0.0, 9000.0, 100.0]))
    assert (x[:2].tolist(), y[:2].tolist()) == ([-3000.0, 5000.0], [0.0, 9000.0])
    assert field.detector_to_ideal(x[2], y[2]) == pytest.approx((100.0, 100.0), abs=1e-9)


@pytest.mark.science
def test_level3_aligns_and_resamples_distorted_frames_through_their_gwcs(tmp_path):
    """A 4-point dither drawn through a 4-pixel distortion, calibrated with its distortion reference, through
    Image3Pipeline (as users run it): tweakreg's correction after the distortion recovers the pointing errors
    (stars' true detector positions through the aligned gWCS on their sky positions), and the mosaic, drizzled
    through the distorted gWCSs, has its stars where the truth says."""
    dither = calibrate_dither(tmp_path, positions=4, size=512, flux_power_index=1.2, distortion_pixels=4.0)
    truth = reference_catalog(dither.simulated.catalogs, tmp_path / "refcat.ecsv", 0.5, seed=2)
    out, _ = run_image3(tmp_path, dither.cal, tmp_path / "refcat.ecsv", "field")
    for stage, paths, limit in (("cal", dither.cal, None), ("crf", [out / p.name.replace("_cal", "_crf") for p in dither.cal], 1.0)):
        rms = []
        for path, catalog in zip(paths, dither.simulated.catalogs):
            stars = Table.read(catalog, format="ascii.ecsv")
            with datamodels.open(path) as model:
                offsets = sky_offsets_pixels(model.meta.wcs, stars["x"], stars["y"], stars["ra"], stars["dec"])
            rms.append(np.sqrt(np.mean(offsets**2)) * 4.0)  # mas
        print(f"{stage}: star positions through the gWCS vs truth, RMS per frame (mas) {np.round(rms, 3)}")
        if limit is None:
            assert max(rms) > 5.0  # the pointing errors (20 mas) to recover
        else:
            assert max(rms) < limit
    with datamodels.open(out / "field_i2d.fits") as mosaic:
        sigma = Table.read(dither.simulated.catalogs[0], format="ascii.ecsv").meta["sigma_pixels"]
        matched = matched_sources(Table.read(out / "field_cat.ecsv"), mosaic, truth, sigma)
    dx, dy = bright_offsets(matched)
    print(f"mosaic: {len(dx)} bright isolated stars, RMS offset {np.sqrt(np.mean(dx**2 + dy**2)):.4f} pixel")
    assert len(dx) > 15
    assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.05
