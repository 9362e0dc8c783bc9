"""SourceCatalogStep: a simulated calibrated frame's catalogue against the simulator's truth, a hand-made source
against the formulas, flags, products and bad inputs."""

import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from dithered import isolated
from ds9 import read_circles
from frames import make_frame, simulated_reference_steps
from liger_iris_pipeline import AssignWcsStep, ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.resample.drizzle_frames import MosaicDrizzle
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.scene import render_stars
from liger_iris_pipeline.source_catalog import source_catalog
from liger_iris_pipeline.source_catalog.source_catalog_step import SourceCatalogStep

#: Simulated frame: large enough for ~500 isolated stars, so that ">= 99 % within 3 sigma" allows a few
#: honest 3-sigma excursions (0.27 % of a normal sample) yet fails for errors 10 % too small.
SIZE = 2048
#: A true star is isolated when no other true star lies within the annulus' outer radius plus the largest
#: aperture radius plus this many PSF sigmas.
ISOLATION_SIGMAS = 3.0
MATCH_RADIUS = 1.0  # pixels


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """The simulated frame calibrated, its catalogue (returned and saved) and the truth, matched."""
    directory = tmp_path_factory.mktemp("catalog")
    simulated = simulate_observation(directory / "raw", size=SIZE, seed=21, flux_power_index=1.2)
    cal_path = directory / "field_cal.fits"
    ProcessImagerL2Pipeline.call(simulated.raw[0], steps=simulated_reference_steps(simulated)).save(cal_path)
    output = directory / "out"
    catalog = SourceCatalogStep.call(str(cal_path), output_dir=str(output), save_results=True)
    truth = Table.read(simulated.catalogs[0])
    distance, nearest = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([catalog["x_centroid"], catalog["y_centroid"]])
    )
    return {
        "cal": cal_path,
        "catalog": catalog,
        "saved": output / "field_cat.ecsv",
        "regions": output / "field_cat.reg",
        "truth": truth,
        "matched": distance < MATCH_RADIUS,
        "nearest": nearest,
    }


def truly_isolated(field):
    """Per true star: no other true star near enough to reach its aperture or annulus."""
    truth, meta = field["truth"], field["catalog"].meta
    reach = meta["annulus_radii_pixels"][1] + max(meta["aperture_radii_pixels"]) + ISOLATION_SIGMAS * truth.meta["sigma_pixels"]
    return isolated(truth["x"], truth["y"], reach)


def expected_snr(field):
    """Per true star, its signal-to-noise ratio in the largest aperture, from the truth's fluxes and noise alone."""
    truth, meta = field["truth"], field["truth"].meta
    gain_time = meta["gain"] * meta["exposure_time"]
    area = math.pi * max(field["catalog"].meta["aperture_radii_pixels"]) ** 2
    sky_variance = area * (meta["sky_rate"] / gain_time + (meta["read_noise"] / meta["exposure_time"]) ** 2)
    flux = np.asarray(truth["flux"])
    return flux / np.sqrt(flux / gain_time + sky_variance)


def clean_isolated_sources(field):
    """Catalogue rows matched to a truly isolated true star, unflagged."""
    catalog = field["catalog"]
    return field["matched"] & truly_isolated(field)[field["nearest"]] & (np.asarray(catalog["flags"]) == 0)


def large_aperture_z(field, error_scale=1.0):
    """(flux - enclosed true flux) / (error_scale * flux_err) in the largest aperture, for the clean isolated sources.

    The enclosed fraction of a Gaussian PSF of width sigma within radius r is 1 - exp(-r**2 / (2 sigma**2)).
    """
    catalog, truth = field["catalog"], field["truth"]
    index = len(catalog.meta["aperture_radii_pixels"])
    radius = catalog.meta["aperture_radii_pixels"][-1]
    enclosed = 1.0 - math.exp(-(radius**2) / (2 * truth.meta["sigma_pixels"] ** 2))
    rows = clean_isolated_sources(field)
    true_flux = np.asarray(truth["flux"])[field["nearest"][rows]]
    flux = np.asarray(catalog[f"aper{index}_flux"])[rows]
    error = np.asarray(catalog[f"aper{index}_flux_err"])[rows]
    return (flux - enclosed * true_flux) / (error_scale * error)


@pytest.mark.science
def test_every_bright_isolated_star_is_detected_and_detections_are_stars(field):
    detected = np.zeros(len(field["truth"]), bool)
    detected[field["nearest"][field["matched"]]] = True
    bright = truly_isolated(field) & (expected_snr(field) > 20)
    assert bright.sum() > 300
    assert detected[bright].mean() == 1.0
    # Clean, isolated detections are real stars.
    clean = (np.asarray(field["catalog"]["flags"]) == 0) & np.asarray(field["catalog"]["is_isolated"])
    assert field["matched"][clean].mean() >= 0.99


@pytest.mark.science
def test_bright_star_centroids_land_on_the_true_positions(field):
    catalog, truth = field["catalog"], field["truth"]
    rows = clean_isolated_sources(field)
    rows &= expected_snr(field)[field["nearest"]] > 100
    assert rows.sum() > 150
    dx = np.asarray(catalog["x_centroid"])[rows] - np.asarray(truth["x"])[field["nearest"][rows]]
    dy = np.asarray(catalog["y_centroid"])[rows] - np.asarray(truth["y"])[field["nearest"][rows]]
    assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.05
    assert abs(np.mean(dx)) < 0.01 and abs(np.mean(dy)) < 0.01


@pytest.mark.science
def test_isolated_star_fluxes_agree_with_the_truth_within_their_errors(field):
    z = large_aperture_z(field)
    assert len(z) > 300
    assert np.mean(np.abs(z) < 3) >= 0.99
    # The errors are honest: a normal fraction within 1 sigma (0.683 +- 3.3 binomial sigmas), a spread of 1
    # (+- 3.2 sigmas of a standard deviation of ~500 values) and no bias.
    assert abs(np.mean(np.abs(z) < 1) - 0.683) < 0.07
    assert 0.9 < np.std(z) < 1.1
    assert abs(np.mean(z)) < 3 / np.sqrt(len(z))
    # The spread catches errors 15 % too small or 20 % too large.
    for wrong_scale in (0.85, 1.2):
        assert not 0.9 < np.std(large_aperture_z(field, error_scale=wrong_scale)) < 1.1


@pytest.mark.science
def test_local_background_is_the_true_sky(field):
    rows = clean_isolated_sources(field)
    background = np.asarray(field["catalog"]["background"])[rows]
    error = np.asarray(field["catalog"]["background_err"])[rows]
    z = (background - field["truth"].meta["sky_rate"]) / error
    assert abs(np.mean(z)) < 4 / np.sqrt(len(z))
    assert 0.8 < np.std(z) < 1.2


@pytest.mark.science
def test_sky_positions_are_those_of_the_fits_wcs_and_of_the_truth(field):
    catalog, truth = field["catalog"], field["truth"]
    x, y = np.asarray(catalog["x_centroid"]), np.asarray(catalog["y_centroid"])
    ra, dec = WCS(fits.getheader(field["cal"], "SCI")).all_pix2world(x, y, 0)
    measured = SkyCoord(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]), unit="deg")
    assert np.max(measured.separation(SkyCoord(ra, dec, unit="deg")).mas) < 1e-3
    rows = clean_isolated_sources(field) & (expected_snr(field)[field["nearest"]] > 100)
    true = SkyCoord(truth["ra"][field["nearest"][rows]], truth["dec"][field["nearest"][rows]], unit="deg")
    pixel_mas = truth.meta["pixel_scale"] * 1000
    assert np.median(measured[rows].separation(true).mas) < 0.05 * pixel_mas


def test_saved_catalogue_is_the_returned_one_with_its_metadata(field):
    catalog, saved = field["catalog"], Table.read(field["saved"])
    assert saved.colnames == catalog.colnames
    for name in catalog.colnames:
        np.testing.assert_array_equal(np.asarray(saved[name]), np.asarray(catalog[name]))
    assert saved["aper1_flux"].unit == "DN / s" and saved["ra"].unit == "deg"
    meta = saved.meta
    assert (meta["instrument"], meta["filter"], meta["image"], meta["bunit"]) == ("IRIS", "Ks", "field_cal.fits", "DN/s")
    assert meta["aperture_radii_pixels"] == pytest.approx([f * meta["kernel_fwhm_pixels"] for f in meta["aperture_radii_fwhm"]])
    assert meta["software_version"].startswith("0.")
    # The default kernel is the diffraction limit, 1.028 lambda / D (Ks, 30 m), in IRIS pixels.
    assert meta["kernel_fwhm_pixels"] == pytest.approx(1.028 * 2.15e-6 / 30.0 * 206264.806 / 0.004, rel=1e-3)


def test_region_file_has_a_circle_of_the_largest_aperture_at_every_source(field):
    catalog = field["catalog"]
    system, values = read_circles(field["regions"])
    assert system == "icrs" and len(values) == len(catalog)  # the gWCS's sky frame (catalog_files.py)
    np.testing.assert_array_equal(values[:, 3], catalog["id"])
    np.testing.assert_allclose(values[:, 0], catalog["ra"], atol=1e-9)
    np.testing.assert_allclose(values[:, 1], catalog["dec"], atol=1e-9)
    radius_arcsec = max(catalog.meta["aperture_radii_pixels"]) * field["truth"].meta["pixel_scale"]
    np.testing.assert_allclose(values[:, 2], radius_arcsec, rtol=1e-4)


# Hand-made frames: IRIS, 0.004"/pixel, a WCS from AssignWcsStep.
BACKGROUND, NOISE = 10.0, 0.5  # DN/s per pixel
STAR_SIGMA = 2.0  # pixels
KERNEL_FWHM = 4.0  # pixels: the radii below are in its units


def frame_with_stars(shape, stars, seed=1, dq=None):
    """An IRIS frame with a WCS: ``stars`` (x, y, flux) with Gaussian PSFs on BACKGROUND, noise of NOISE per pixel
    (ERR = NOISE everywhere)."""
    x, y, flux = (np.array(column, float) for column in zip(*stars)) if stars else (np.zeros(0),) * 3
    sci = render_stars(shape, x, y, flux, STAR_SIGMA) + BACKGROUND
    sci += NOISE * np.random.default_rng(seed).standard_normal(shape)
    return AssignWcsStep.call(make_frame(sci, err=np.full(shape, NOISE), dq=dq), override_distortion="N/A")


def catalogue(model, **parameters):
    return SourceCatalogStep.call(
        model, kernel_fwhm=KERNEL_FWHM, aperture_radii=[2.5], annulus_radii=[3.5, 5.0], **parameters
    )


def test_a_single_gaussian_source_has_the_flux_and_error_computed_by_hand():
    flux = 2.0e4
    model = frame_with_stars((101, 101), [(50.3, 49.6, flux)])
    (source,) = catalogue(model)
    radius, r_in, r_out = 2.5 * KERNEL_FWHM, 3.5 * KERNEL_FWHM, 5.0 * KERNEL_FWHM
    # Annulus: the pixels whose centres lie within it (about 0.3 % of them clipped at 3 sigma).
    yy, xx = np.mgrid[:101, :101]
    distance = np.hypot(xx - source["x_centroid"], yy - source["y_centroid"])
    n_annulus = np.count_nonzero((distance >= r_in) & (distance <= r_out))
    background_err = math.sqrt(math.pi / 2) * NOISE / math.sqrt(n_annulus)
    area = math.pi * radius**2
    expected_err = math.sqrt(area * NOISE**2 + (area * background_err) ** 2)
    assert source["aper1_flux_err"] == pytest.approx(expected_err, rel=5e-3)
    assert source["background_err"] == pytest.approx(background_err, rel=5e-3)
    enclosed = 1.0 - math.exp(-(radius**2) / (2 * STAR_SIGMA**2))
    assert abs(source["aper1_flux"] - enclosed * flux) < 3 * expected_err
    assert abs(source["background"] - BACKGROUND) < 3 * background_err
    assert math.hypot(source["x_centroid"] - 50.3, source["y_centroid"] - 49.6) < 0.02
    assert source["flags"] == 0 and source["is_isolated"]
    assert source["fwhm"] == pytest.approx(STAR_SIGMA * source_catalog.FWHM_PER_SIGMA, rel=0.1)
    # The frame records the step.
    assert model.meta.cal_step.source_catalog == "COMPLETE"
    entries = model._asdf.tree["history"]["entries"]
    assert any(entry["description"].startswith("source_catalog COMPLETE") for entry in entries)


def test_flags_mark_bad_pixels_edges_and_blends():
    dq = np.zeros((120, 160), np.uint32)
    dq[30, 33] = datamodels.dqflags.pixel["DO_NOT_USE"] | datamodels.dqflags.pixel["DEAD"]
    stars = [(30.0, 30.0, 5e3), (150.0, 60.0, 5e3), (90.0, 80.0, 5e3), (99.0, 80.0, 5e3), (60.0, 60.0, 5e3)]
    catalog = catalogue(frame_with_stars((120, 160), stars, dq=dq))
    assert len(catalog) == len(stars)
    x, y = np.asarray(catalog["x_centroid"]), np.asarray(catalog["y_centroid"])
    flags = {tuple(np.round(star[:2])): (int(f), bool(i)) for star in stars for xs, ys, f, i in
             zip(x, y, catalog["flags"], catalog["is_isolated"]) if math.hypot(xs - star[0], ys - star[1]) < 1}
    assert flags[(30.0, 30.0)][0] == source_catalog.FLAG_BAD_PIXEL
    assert flags[(150.0, 60.0)][0] == source_catalog.FLAG_EDGE
    assert flags[(90.0, 80.0)][0] & source_catalog.FLAG_BLENDED and not flags[(90.0, 80.0)][1]
    assert flags[(99.0, 80.0)][0] & source_catalog.FLAG_BLENDED
    assert flags[(60.0, 60.0)] == (0, True)


def test_a_change_of_the_frames_within_the_aperture_is_flagged():
    """A mosaic's context (frames 1 and 2 left of x = 70, frame 1 alone right of it, and a pixel frame 2 left
    out at (30, 60)): stars whose largest aperture reaches a change are flagged COVERAGE, the others not."""
    stars = [(30.0, 30.0, 5e3), (66.0, 30.0, 5e3), (110.0, 30.0, 5e3), (32.0, 62.0, 5e3)]
    model = frame_with_stars((100, 140), stars)
    context = np.full((1, 100, 140), 0b11, np.int32)
    context[0, :, 70:] = 0b01
    context[0, 60, 30] = 0b01
    changes = source_catalog.coverage_changes(context)
    assert changes[:, 69:71].all() and changes[59:62, 29:32].all() and changes.sum() == 2 * 100 + 9
    model.instance["con"] = context
    catalog = catalogue(model)
    flags = {round(float(x)): int(f) for x, f in zip(catalog["x_centroid"], catalog["flags"])}
    assert flags == {30: 0, 66: source_catalog.FLAG_COVERAGE, 110: 0, 32: source_catalog.FLAG_COVERAGE}


def test_a_weight_map_masks_the_unexposed_pixels():
    """A mosaic's WHT (here set on a frame's tree, as a mosaic model carries it): no source where it is 0."""
    model = frame_with_stars((80, 100), [(30.0, 40.0, 5e3), (70.0, 40.0, 5e3)])
    weight = np.ones((80, 100), np.float32)
    weight[:, 50:] = 0.0
    model.instance["wht"] = weight
    (source,) = catalogue(model)
    assert math.hypot(source["x_centroid"] - 30.0, source["y_centroid"] - 40.0) < 0.05
    assert source["flags"] == 0


def test_a_field_without_sources_gives_an_empty_catalogue_and_region_file(tmp_path):
    path = tmp_path / "blank_cal.fits"
    frame_with_stars((80, 80), []).save(path)
    catalog = catalogue(str(path), output_dir=str(tmp_path / "out"), save_results=True)
    assert len(catalog) == 0 and "aper1_flux_err" in catalog.colnames
    assert len(Table.read(tmp_path / "out" / "blank_cat.ecsv")) == 0
    assert read_circles(tmp_path / "out" / "blank_cat.reg")[1].shape == (0, 4)


def without_wcs(model):
    model.meta.wcs = None
    return model


def without_usable_pixels(model):
    model.dq |= datamodels.dqflags.pixel["DO_NOT_USE"]
    return model


def in_other_units(model):
    model.meta.bunit_data = model.meta.bunit_err = "MJy/sr"
    return model


@pytest.mark.parametrize(
    "spoil, problem",
    [(without_wcs, "no WCS"), (without_usable_pixels, "no usable pixel"), (in_other_units, "BUNIT 'MJy/sr'")],
)
def test_bad_input_is_refused_in_one_line_naming_the_file_and_nothing_is_written(tmp_path, spoil, problem):
    path = tmp_path / "bad_cal.fits"
    spoil(frame_with_stars((60, 60), [(30.0, 30.0, 5e3)])).save(path)
    output = tmp_path / "out"
    with pytest.raises(StepInputError) as error:
        catalogue(str(path), output_dir=str(output), save_results=True)
    message = str(error.value)
    assert "\n" not in message and "bad_cal.fits" in message and problem in message
    assert not output.exists() or not any(output.iterdir())


def test_a_failed_write_leaves_no_partial_catalogue(tmp_path, monkeypatch):
    path = tmp_path / "frame_cal.fits"
    frame_with_stars((60, 60), [(30.0, 30.0, 5e3)]).save(path)

    def write_half_then_fail(table, target, **kwargs):
        with open(target, "w") as half:
            half.write("# %ECSV 1.0\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Table, "write", write_half_then_fail)
    output = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        catalogue(str(path), output_dir=str(output), save_results=True)
    assert list(output.iterdir()) == []


@pytest.mark.science
@pytest.mark.parametrize("pixfrac, scale_ratio", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.5), (1.0, 2.0), (0.8, 1.25)])
def test_the_variance_ratio_of_a_drizzled_image_is_the_scatter_of_its_sums(pixfrac, scale_ratio):
    """White noise drizzled (square kernel, rotated by 3 deg so that drops fall at every phase) many times:
    the variance of sums over 16 x 16 input-pixel boxes, over the sum of the output pixels' VAR, is R**2 less
    the covariance across the boxes' edges (measured 3-7 %); R itself (a ratio of noise) would be 17-60 % short."""
    rng = np.random.default_rng(8)
    size, box, angle = 240, int(round(16 / scale_ratio)), np.radians(3.0)
    yy, xx = np.mgrid[:size, :size].astype(float)
    pixmap = np.stack([
        (np.cos(angle) * xx - np.sin(angle) * yy) / scale_ratio + 12.3,
        (np.sin(angle) * xx + np.cos(angle) * yy) / scale_ratio + 4.6,
    ], axis=-1)
    out_shape = (int(size / scale_ratio) + 30, int(size / scale_ratio) + 30)
    ones = np.ones((size, size), np.float32)
    area = ones / scale_ratio**2  # each input pixel's area in output pixels (the map is a scaled rotation)
    corners = [(y0, x0) for y0 in range(int(25 / scale_ratio), int(215 / scale_ratio) - box, box)
               for x0 in range(int(35 / scale_ratio), int(225 / scale_ratio) - box, box)]
    sums, variances = [], None
    for _ in range(200):
        drizzle = MosaicDrizzle(out_shape, "square", pixfrac)
        noise = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
        drizzle.add(noise, (0 * ones, ones, 0 * ones), ones, pixmap, area, 1.0)
        sums.append([drizzle.sci[y0:y0 + box, x0:x0 + box].sum() for y0, x0 in corners])
        if variances is None:
            variances = np.array([drizzle.variances[1][y0:y0 + box, x0:x0 + box].sum() for y0, x0 in corners])
    measured = np.mean(np.var(np.array(sums), axis=0) / variances)
    expected = source_catalog.drizzle_variance_ratio("square", pixfrac, scale_ratio)
    print(f"pixfrac {pixfrac}, scale {scale_ratio}: variance ratio measured {measured:.3f}, R**2 {expected:.3f} ({len(corners)} boxes)")
    assert 0.9 * expected < measured < 1.01 * expected
    assert source_catalog.drizzle_variance_ratio("point", pixfrac, scale_ratio) == 1.0
