"""The simulator's dithered observations: true WCS vs header, pointing errors, residual outliers, mosaic."""

import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from liger_iris_pipeline import datamodels
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.cli import build_parser, main

SIZE = 128
SCALE_MAS = 4.0
ERROR_MAS = 30.0
COSMIC_RAYS, HOT_PIXELS = 6, 4


def simulate(path, positions, seed=5, **options):
    options = {
        "size": SIZE, "dither_positions": positions, "dither_step": 0.1, "pointing_error_mas": ERROR_MAS,
        "max_rotation_deg": 0.01, "residual_cosmic_rays": COSMIC_RAYS, "residual_hot_pixels": HOT_PIXELS,
        "pa_deg": 25.0, "seed": seed, "n_stars": 40, **options,
    }
    return simulate_observation(path, **options)


@pytest.fixture(scope="module", params=[4, 9], ids=["4-point", "9-point"])
def dithered(request, tmp_path_factory):
    return request.param, simulate(tmp_path_factory.mktemp(f"dither{request.param}"), request.param)


def header_wcs(raw_path):
    """TAN WCS of a raw frame built from its header pointing alone (PC-matrix form, as the pipeline does)."""
    with datamodels.ImagerModel(raw_path) as model:
        ny, nx = model.data.shape
        ra, dec, pa = model.meta.pointing.ra, model.meta.pointing.dec, math.radians(model.meta.pointing.pa)
    frame = WCS(naxis=2)
    frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    frame.wcs.crpix = [(nx + 1) / 2, (ny + 1) / 2]
    frame.wcs.crval = [ra, dec]
    frame.wcs.cdelt = [-SCALE_MAS / 3.6e6, SCALE_MAS / 3.6e6]
    frame.wcs.pc = [[math.cos(pa), -math.sin(pa)], [math.sin(pa), math.cos(pa)]]
    return frame


def arrays(path):
    with fits.open(path) as hdulist:
        return {hdu.name: hdu.data.astype(np.float64) for hdu in hdulist if hdu.is_image and hdu.data is not None}


def test_one_exposure_per_dither_position(dithered):
    positions, observation = dithered
    assert len(observation.raw) == len(observation.catalogs) == len(observation.outliers) == positions
    commanded = np.array([Table.read(path).meta["commanded_boresight"] for path in observation.catalogs])
    offsets = SkyCoord(*commanded[0], unit="deg").separation(SkyCoord(commanded[:, 0], commanded[:, 1], unit="deg"))
    side = math.isqrt(positions)
    # the grid's corners are (side - 1) steps apart along each axis: the farthest is the diagonal
    assert offsets.to_value("arcsec").max() == pytest.approx((side - 1) * 0.1 * math.sqrt(2), rel=1e-6)


@pytest.mark.science
def test_stars_follow_the_true_wcs_not_the_header(dithered):
    """Catalogue x/y = the sky positions through the truth's WCS; the header's WCS misses by the pointing error."""
    _, observation = dithered
    for raw, catalog_path in zip(observation.raw, observation.catalogs):
        catalog = Table.read(catalog_path)
        assert len(catalog) >= 3
        true_wcs = WCS(fits.Header(catalog.meta["true_wcs"]))
        x, y = true_wcs.all_world2pix(catalog["ra"], catalog["dec"], 0)
        np.testing.assert_allclose(x, catalog["x"], atol=1e-4)  # the FITS-header round trip of the WCS: < 1 uas
        np.testing.assert_allclose(y, catalog["y"], atol=1e-4)
        header_x, header_y = header_wcs(raw).all_world2pix(catalog["ra"], catalog["dec"], 0)
        miss_mas = np.hypot(header_x - catalog["x"], header_y - catalog["y"]) * SCALE_MAS
        east, north = catalog.meta["pointing_error_mas"]
        # rotation about the centre adds at most 0.01 deg x the frame's half-diagonal (~0.6 mas here)
        lever_mas = math.radians(abs(catalog.meta["true_rotation_deg"])) * SIZE / math.sqrt(2) * SCALE_MAS
        assert np.all(np.abs(miss_mas - math.hypot(east, north)) <= lever_mas + 0.01)
        assert catalog.meta["pointing_ra"] == pytest.approx(catalog.meta["commanded_boresight"][0], abs=1e-12)
        true = SkyCoord(*catalog.meta["true_boresight"], unit="deg")
        commanded = SkyCoord(*catalog.meta["commanded_boresight"], unit="deg")
        assert true.separation(commanded).to_value("mas") == pytest.approx(math.hypot(east, north), rel=1e-6)


@pytest.mark.science
def test_pointing_errors_have_the_configured_scale(tmp_path):
    """Over a 9-point dither of many seeds, the east/north errors scatter with sigma ERROR_MAS, rotations within
    the bound; the headers' PA is the commanded one."""
    errors, rotations = [], []
    for seed in range(4):
        observation = simulate(tmp_path / str(seed), 9, seed=seed, size=48, residual_cosmic_rays=0, residual_hot_pixels=0, n_stars=4)
        for path in observation.catalogs:
            meta = Table.read(path).meta
            errors.extend(meta["pointing_error_mas"])
            rotations.append(meta["true_rotation_deg"])
            assert meta["pa_deg"] == 25.0
    assert np.std(errors) == pytest.approx(ERROR_MAS, rel=0.3)  # 72 draws: sigma known to ~8 %
    assert 0 < np.max(np.abs(rotations)) <= 0.01 and np.std(rotations) > 0.002


def outlier_table(path):
    table = Table.read(path)
    return table[table["kind"] == "cosmic_ray"], table[table["kind"] == "hot"]


def excess(observation, index):
    """(raw - flat x scene - reference dark) / err of one exposure: what no reference explains."""
    raw, truth = arrays(observation.raw[index]), arrays(observation.truth[index])["SCI"]
    flat, dark = arrays(observation.true_flat)["SCI"], arrays(observation.dark)["SCI"]
    return (raw["SCI"] - flat * truth - dark) / raw["ERR"]


@pytest.mark.science
def test_cosmic_rays_are_in_one_exposure_only(dithered):
    _, observation = dithered
    excesses = [excess(observation, index) for index in range(len(observation.raw))]
    hits = [outlier_table(path)[0] for path in observation.outliers]
    for index, cosmic in enumerate(hits):
        assert len(set(cosmic["hit"])) == COSMIC_RAYS
        bright = cosmic[cosmic["rate"] > 2.0]  # a pixel that got a small share of a hit may hide in the noise
        assert np.all(excesses[index][bright["y"], bright["x"]] > 5)
        for other, other_hits in enumerate(hits):
            if other != index:
                elsewhere = {(x, y) for x, y in zip(other_hits["x"], other_hits["y"])}
                quiet = [(x, y) for x, y in zip(bright["x"], bright["y"]) if (x, y) not in elsewhere]
                ys, xs = [y for _, y in quiet], [x for x, _ in quiet]
                assert np.all(np.abs(excesses[other][ys, xs]) < 5)


@pytest.mark.science
def test_residual_hot_pixels_are_everywhere_and_flagged_nowhere(dithered):
    _, observation = dithered
    hot_tables = [outlier_table(path)[1] for path in observation.outliers]
    positions = {tuple(zip(table["x"], table["y"])) for table in hot_tables}
    assert len(positions) == 1 and len(hot_tables[0]) == HOT_PIXELS  # the same pixels in every exposure
    x, y = hot_tables[0]["x"], hot_tables[0]["y"]
    mask, dark = arrays(observation.mask)["DQ"], arrays(observation.dark)
    assert np.all(mask[y, x] == 0) and np.all(dark["DQ"][y, x] == 0)
    np.testing.assert_allclose(arrays(observation.true_dark)["SCI"][y, x] - dark["SCI"][y, x], hot_tables[0]["rate"], atol=0.02)
    for index in range(len(observation.raw)):
        assert np.all(excess(observation, index)[y, x] > 5)


def test_reproducible_with_the_seed(tmp_path):
    first, again, other = (simulate(tmp_path / name, 4, seed=seed, size=48, n_stars=4) for name, seed in (("a", 1), ("b", 1), ("c", 2)))
    for path_a, path_b, path_c in zip(first.raw + first.outliers, again.raw + again.outliers, other.raw + other.outliers):
        if path_a.suffix == ".fits":
            np.testing.assert_array_equal(arrays(path_a)["SCI"], arrays(path_b)["SCI"])
            assert not np.array_equal(arrays(path_a)["SCI"], arrays(path_c)["SCI"])
        else:
            assert Table.read(path_a).pformat() == Table.read(path_b).pformat() != Table.read(path_c).pformat()


@pytest.mark.science
def test_iris_mosaic_sees_one_sky_through_four_detectors(tmp_path):
    """Four detectors, one frame each per dither position; a star seen by two detectors (or two exposures) has
    one sky position, and every detector's truth WCS puts it at its catalogue x/y."""
    observation = simulate(tmp_path, 4, n_detectors=4, detector_gap=0.05, size=64, residual_cosmic_rays=0, residual_hot_pixels=0)
    detectors = (observation, *observation.mosaic)
    assert [Table.read(o.catalogs[0]).meta["detector"] for o in detectors] == ["IMG1", "IMG2", "IMG3", "IMG4"]
    assert all(len(o.raw) == 4 for o in detectors)
    assert observation.mosaic[2].mask.name == "IRIS_IMG4_MASK_20200101T000000_1.fits"
    sky = {}
    for detector_observation in detectors:
        for raw, path in zip(detector_observation.raw, detector_observation.catalogs):
            catalog = Table.read(path)
            with datamodels.ImagerModel(raw) as model:
                assert model.meta.instrument.detector == catalog.meta["detector"]
            x, y = WCS(fits.Header(catalog.meta["true_wcs"])).all_world2pix(catalog["ra"], catalog["dec"], 0)
            np.testing.assert_allclose(x, catalog["x"], atol=1e-4)  # the FITS-header round trip of the WCS: < 1 uas
            for star_id, ra, dec in zip(catalog["id"], catalog["ra"], catalog["dec"]):
                assert sky.setdefault(star_id, (ra, dec)) == (ra, dec)
    # the detectors are 64 + 12.5 pixels apart: the header centres of IMG1 and IMG2 of one exposure
    metas = [Table.read(o.catalogs[0]).meta for o in detectors[:2]]
    first = [SkyCoord(meta["pointing_ra"], meta["pointing_dec"], unit="deg") for meta in metas]
    assert first[0].separation(first[1]).to_value("mas") == pytest.approx((64 + 12.5) * SCALE_MAS, rel=1e-6)


def test_cli_documents_and_passes_the_dither_options(tmp_path, capsys):
    help_text = build_parser().format_help()
    for option in ("--dither", "--dither-step", "--pointing-error-mas", "--max-rotation-deg",
                   "--residual-cosmic-rays", "--residual-hot-pixels", "--detectors", "--detector-gap"):
        assert option in help_text
    main(["--output-dir", str(tmp_path), "--size", "48", "--n-stars", "3", "--dither", "4", "--residual-cosmic-rays", "2"])
    printed = capsys.readouterr().out.split()
    assert sum(name.endswith("_SCI_LVL1_0004.fits") for name in printed) == 1
    assert sum(name.endswith("_outliers.ecsv") for name in printed) == 4


@pytest.mark.parametrize(
    "options, message",
    [
        ({"dither_positions": 5}, "square number"),
        ({"dither_positions": 4, "n_exposures": 3}, "n_exposures"),
        ({"residual_cosmic_rays": -1}, "residual_cosmic_rays"),
        ({"n_detectors": 2}, "1 detector or all"),
        ({"instrument": "LIGER", "n_detectors": 4}, "1 detector or all"),
    ],
)
def test_bad_dither_options_raise(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        simulate_observation(tmp_path, size=48, **options)
