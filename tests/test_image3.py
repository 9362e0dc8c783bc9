"""Image3Pipeline end to end, as users run it (``liger-iris-asn --image3``, then ``tmtrun image3``), on a simulated
4-point IRIS dither (1024 x 1024) with pointing errors, residual cosmic rays and hot pixels, aligned to an absolute catalogue:
the products against the simulator's truth (issue 18, item 6)."""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dithered import (
    MAS_PER_DEG, blank_sky, bright_offsets, calibrate_dither, counted, good_star_pixels, injected, matched_sources, reference_catalog,
    run_image3, true_wcs,
)
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.source_catalog.source_catalog import drizzle_variance_ratio

FLAGS = datamodels.dqflags.pixel
PRODUCT = "field"
SIZE, POSITIONS = 1024, 4
#: Noise of the absolute catalogue's positions (a Gaia-like catalogue of the field's stars).
REFCAT_NOISE_MAS = 0.5
GRID = 16  # pixels per axis of the grid on which each frame's WCS is compared with the true one
#: The 4 frame steps and the 2 mosaic steps, by FITS keyword.
STATUS_KEYWORDS = ("S_TWKREG", "S_SKYMAT", "S_OUTLIR", "S_RESAMP", "S_SRCCAT")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The calibrated dither, its association, the absolute catalogue, and the pipeline's products."""
    directory = tmp_path_factory.mktemp("image3")
    dither = calibrate_dither(
        directory, positions=POSITIONS, size=SIZE, residual_cosmic_rays=100, residual_hot_pixels=20, flux_power_index=1.2
    )
    truth = reference_catalog(dither.simulated.catalogs, directory / "refcat.ecsv", REFCAT_NOISE_MAS, seed=2)
    out, stdout = run_image3(directory, dither.cal, directory / "refcat.ecsv", PRODUCT)
    crf = tuple(out / path.name.replace("_cal.fits", "_crf.fits") for path in dither.cal)
    return {"dither": dither, "truth": truth, "out": out, "crf": crf, "stdout": stdout}


@pytest.fixture(scope="module")
def mosaic(run):
    with datamodels.open(run["out"] / f"{PRODUCT}_i2d.fits") as model:
        yield model


@pytest.fixture(scope="module")
def matched(run, mosaic):
    """The catalogue, the truth in mosaic pixels, and per source its nearest true star, whether it is within
    MATCH_RADIUS and whether that star is truly isolated; the PSF sigma of the mosaic."""
    catalog = Table.read(run["out"] / f"{PRODUCT}_cat.ecsv")
    sigma = Table.read(run["dither"].simulated.catalogs[0]).meta["sigma_pixels"]
    return matched_sources(catalog, mosaic, run["truth"], sigma)


@pytest.fixture(scope="module")
def blank(run, matched, mosaic):
    return blank_sky(mosaic, matched["x"], matched["y"], run["truth"]["flux"], matched["sigma"], POSITIONS)


@pytest.mark.science
def test_alignment_recovers_the_injected_pointing_errors(run):
    errors, before = [], []
    for crf, cal, catalog in zip(run["crf"], run["dither"].cal, run["dither"].simulated.catalogs):
        x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, SIZE - 1, GRID), np.linspace(0, SIZE - 1, GRID)))
        truth = true_wcs(catalog, (SIZE, SIZE))
        true_ra, true_dec = truth(x, y, with_bounding_box=False)
        for path, collected in ((crf, errors), (cal, before)):
            with datamodels.open(path) as model:
                ra, dec = model.meta.wcs(x, y, with_bounding_box=False)
            collected.append(np.column_stack([(ra - true_ra) * np.cos(np.radians(true_dec)), dec - true_dec]) * MAS_PER_DEG)
    rms = np.sqrt(np.mean(np.sum(np.square(errors), axis=-1), axis=1))
    rms_before = np.sqrt(np.mean(np.sum(np.square(before), axis=-1), axis=1))
    print(f"WCS vs truth, RMS per frame (mas): {np.round(rms, 3)}, before {np.round(rms_before, 1)}; "
          f"common offset {np.round(np.mean(errors, axis=(0, 1)), 3)} mas")
    assert rms.max() < 1.0
    assert rms_before.max() > 10.0  # there were errors to recover


@pytest.mark.science
def test_mosaic_star_positions_match_the_truth(matched, mosaic):
    """Centroids of bright (S/N > 100), truly isolated, unflagged stars in the catalogue of the mosaic against
    the true RA/Dec through the mosaic's WCS: median offset < 0.02, RMS < 0.05 output pixel."""
    dx, dy = bright_offsets(matched)
    median, rms = (np.median(dx), np.median(dy)), np.sqrt(np.mean(dx**2 + dy**2))
    print(f"{len(dx)} stars: median offset {np.round(median, 4)} pixel, RMS {rms:.4f}")
    assert len(dx) > 80
    assert np.all(np.abs(median) < 0.02)
    assert rms < 0.05


def photometry_z(matched, true_flux):
    """(flux - enclosed true flux) / flux_err in the largest aperture, for the clean sources. The drizzled PSF is
    the true Gaussian (sigma) integrated over a detector pixel and drizzled with a pixel-wide drop (pixfrac 1,
    same scale): two box convolutions, sigma_eff**2 = sigma**2 + 2 / 12."""
    catalog = matched["catalog"]
    index = len(catalog.meta["aperture_radii_pixels"])
    radius = catalog.meta["aperture_radii_pixels"][-1]
    enclosed = 1.0 - math.exp(-(radius**2) / (2 * (matched["sigma"] ** 2 + 2.0 / 12.0)))
    rows = matched["clean"]
    true_flux = np.asarray(true_flux)[matched["nearest"][rows]]
    flux = np.asarray(catalog[f"aper{index}_flux"])[rows]
    error = np.asarray(catalog[f"aper{index}_flux_err"])[rows]
    return (flux - enclosed * true_flux) / error


@pytest.mark.science
def test_isolated_star_photometry_agrees_with_the_truth_within_its_errors(run, matched, mosaic):
    """>= 99 % within 3 sigma; and the errors are neither too small nor inflated: 68.3 % within 1 sigma (+- 0.12,
    2.8 binomial sigmas of ~120 stars) and a spread of 1 (+- 0.2). Measured here: without the catalogue's
    correction for drizzle's noise correlation (errors 1.5 x too small) 98.4 % within 3 sigma, 51.6 % within 1,
    spread 1.35; errors 1.5 x too large, 89.3 % within 1, spread 0.60. (On the 9-point dither of the same field,
    keeping the stars flagged COVERAGE gave 98.7 % within 3 sigma.)"""
    catalog = matched["catalog"]
    expected_ratio = drizzle_variance_ratio(mosaic.meta.resample.kernel, mosaic.meta.resample.pixfrac, mosaic.meta.resample.pixel_scale_ratio)
    assert catalog.meta["noise_correlation"] == pytest.approx(expected_ratio) and expected_ratio > 2
    z = photometry_z(matched, run["truth"]["flux"])
    within3, within1 = np.mean(np.abs(z) < 3), np.mean(np.abs(z) < 1)
    flagged = np.asarray(catalog["flags"]) != 0
    print(f"{len(z)} clean isolated stars ({flagged.sum()} of {len(catalog)} sources flagged): {100 * within3:.1f} % "
          f"within 3 sigma, {100 * within1:.1f} % within 1 sigma, std {np.std(z):.3f}, worst {np.round(np.sort(np.abs(z))[-3:], 2)}")
    assert len(z) > 100
    assert within3 >= 0.99
    assert abs(within1 - 0.683) < 0.12
    assert 0.8 < np.std(z) < 1.2


@pytest.mark.science
def test_residual_cosmic_rays_are_flagged_and_good_star_pixels_are_not(run):
    """Of the injected cosmic-ray pixels an outlier detection can be asked to find (dithered.counted: > 5 ERR,
    on no star, seen by >= 3 frames), >= 99 % carry OUTLIER in the _crf frames; of the good star pixels
    (dithered.good_star_pixels) < 0.1 %."""
    dither, crf = run["dither"], run["crf"]
    found = total = injected_pixels = star_flagged = star_total = 0
    for index in range(len(crf)):
        table = injected(dither, crf, index)
        cosmic = table[table["kind"] == "cosmic_ray"]
        cosmic = cosmic[np.unique(np.stack([cosmic["x"], cosmic["y"]]), axis=1, return_index=True)[1]]
        chosen = cosmic[counted(cosmic)]
        stars = good_star_pixels(dither, dither.cal, index)
        with datamodels.open(crf[index]) as model:
            found += np.count_nonzero(model.dq[chosen["y"], chosen["x"]] & FLAGS["OUTLIER"])
            star_flagged += np.count_nonzero(model.dq[stars] & FLAGS["OUTLIER"])
        total, injected_pixels, star_total = total + len(chosen), injected_pixels + len(cosmic), star_total + stars.sum()
    print(f"cosmic-ray pixels: {found} of {total} counted flagged ({injected_pixels} injected); "
          f"star pixels: {star_flagged} of {star_total} flagged ({100.0 * star_flagged / star_total:.3f} %)")
    assert total > 500
    assert found >= 0.99 * total
    assert star_total > 20000
    assert star_flagged < 0.001 * star_total


@pytest.mark.science
def test_mosaic_variance_matches_the_scatter_of_blank_sky(mosaic, blank):
    """chi^2 per degree of freedom of (SCI - sky) / ERR over blank pixels every frame covers: 1 within 10 %."""
    sky = np.median(mosaic.data[blank])
    chi2 = np.mean(((mosaic.data[blank] - sky) / mosaic.err[blank]) ** 2)
    print(f"{blank.sum()} blank pixels: chi2/dof {chi2:.4f}")
    assert blank.sum() > 100000
    assert abs(chi2 - 1.0) < 0.1


@pytest.mark.science
def test_the_mosaic_conserves_the_flux_of_the_flat_sky(run, mosaic, blank):
    """The blank sky of the mosaic (DN/s per output pixel of the input's size) is the simulated sky rate: the
    drizzle of a flat scene through alignment, sky matching and outlier flagging conserves its flux to 0.1 %
    (the median's own error ~0.01 %)."""
    meta = Table.read(run["dither"].simulated.catalogs[0]).meta
    levels = []
    for path in run["crf"]:
        with datamodels.open(path) as frame:
            levels.append(frame.meta.background.level or 0.0)
    # skymatch's 'match' levels are relative to the faintest frame's sky, which the mosaic keeps
    sky = np.median(mosaic.data[blank])
    print(f"mosaic sky {sky:.5f} DN/s, simulated {meta['sky_rate']}, skymatch levels {np.round(levels, 5)}")
    assert mosaic.meta.resample.pixel_scale_ratio == pytest.approx(1.0)
    assert abs(sky / meta["sky_rate"] - 1.0) < 1e-3


@pytest.mark.science
def test_products_are_named_and_record_their_steps(run, mosaic):
    out = run["out"]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [path.name for path in run["crf"]] + [f"{PRODUCT}_i2d.fits", f"{PRODUCT}_cat.ecsv", f"{PRODUCT}_cat.reg"]
    )
    header = fits.getheader(out / f"{PRODUCT}_i2d.fits")
    assert {keyword: header[keyword] for keyword in STATUS_KEYWORDS} == dict.fromkeys(STATUS_KEYWORDS, "COMPLETE")
    assert header["CAL_VER"]
    for path in run["crf"]:
        crf_header = fits.getheader(path)
        assert {keyword: crf_header[keyword] for keyword in STATUS_KEYWORDS[:3]} == dict.fromkeys(STATUS_KEYWORDS[:3], "COMPLETE")
    catalog = Table.read(out / f"{PRODUCT}_cat.ecsv")
    assert catalog.meta["image"] == f"{PRODUCT}_i2d.fits"
    regions = (out / f"{PRODUCT}_cat.reg").read_text().splitlines()
    assert sum(line.startswith("circle(") for line in regions) == len(catalog)
    assert mosaic.meta.resample.n_frames == POSITIONS
