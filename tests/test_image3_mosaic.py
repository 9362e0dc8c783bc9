"""Image3Pipeline end to end on IRIS's four detectors: a 4-point dither (0.2" steps, 256 x 256 detectors here, the
1.2" gaps between them wider than the dither) run as users do, ``tmtrun image3`` on the association of all 16
calibrated frames, aligned to an absolute catalogue. The mosaic spans the four detectors and the gaps between them,
and its catalogue puts each detector's stars where the truth has them (issue 18, item 3)."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dithered import bright_offsets, calibrate_dither, matched_sources, reference_catalog, run_image3
from liger_iris_pipeline import datamodels

pytestmark = pytest.mark.science

PRODUCT = "mosaic"
STATUS_KEYWORDS = ("S_TWKREG", "S_SKYMAT", "S_OUTLIR", "S_RESAMP", "S_SRCCAT")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The calibrated 4-detector dither (600 stars over the field, so that enough bright ones are isolated), its
    truth, and the products of Level 3 with their mosaic and catalogue matched to the truth."""
    directory = tmp_path_factory.mktemp("image3_mosaic")
    dither = calibrate_dither(
        directory, positions=4, size=256, n_detectors=4, n_stars=600, residual_cosmic_rays=20, residual_hot_pixels=5,
        flux_power_index=1.2,
    )
    truth = reference_catalog(dither.all_catalogs, directory / "refcat.ecsv", 0.5, seed=2)
    out, _ = run_image3(directory, dither.all_cal, directory / "refcat.ecsv", PRODUCT)
    with datamodels.open(out / f"{PRODUCT}_i2d.fits") as mosaic:
        sigma = Table.read(dither.simulated.catalogs[0]).meta["sigma_pixels"]
        matched = matched_sources(Table.read(out / f"{PRODUCT}_cat.ecsv"), mosaic, truth, sigma)
        coverage = np.isfinite(mosaic.data) & (mosaic.wht > 0)
        yield {"dither": dither, "truth": truth, "out": out, "mosaic": mosaic, "matched": matched, "coverage": coverage}


def detector_of_stars(dither, truth):
    """Per true star, the detector (IMG1..IMG4) whose frames saw it, '' for a star no frame saw (in a gap)."""
    seen = {}
    for detector in dither.detectors:
        name = Table.read(detector.simulated.catalogs[0]).meta["detector"]
        for catalog in detector.simulated.catalogs:
            seen.update(dict.fromkeys(Table.read(catalog)["id"].tolist(), name))
    return np.array([seen.get(star, "") for star in truth["id"].tolist()])


def test_the_mosaic_spans_all_four_detectors_and_their_gaps(run):
    """Each detector's stars are in the catalogue (> 80 % of its bright ones found), and no source lies in the
    gaps: every catalogue source sits on covered mosaic pixels and matches a star some detector saw."""
    matched, truth = run["matched"], run["truth"]
    catalog = matched["catalog"]
    detectors = detector_of_stars(run["dither"], truth)
    found = np.zeros(len(truth), bool)
    found[matched["nearest"][np.hypot(np.asarray(catalog["x_centroid"]) - matched["x"][matched["nearest"]],
                                      np.asarray(catalog["y_centroid"]) - matched["y"][matched["nearest"]]) < 1.0]] = True
    ny, nx = run["mosaic"].data.shape
    print(f"mosaic {nx} x {ny}, {len(catalog)} sources, covered {run['coverage'].mean():.3f}")
    for name in ("IMG1", "IMG2", "IMG3", "IMG4"):
        bright = (detectors == name) & (np.asarray(truth["flux"]) > np.percentile(truth["flux"], 50))
        print(f"{name}: {found[bright].sum()} of {bright.sum()} brighter-than-median stars found")
        assert bright.sum() > 10 and found[bright].mean() > 0.8, name
    xs = np.round(np.asarray(catalog["x_centroid"])).astype(int).clip(0, nx - 1)
    ys = np.round(np.asarray(catalog["y_centroid"])).astype(int).clip(0, ny - 1)
    assert run["coverage"][ys, xs].all()
    assert (detectors[matched["nearest"]] != "").all()
    assert not run["coverage"][ny // 2, :].all() and not run["coverage"][:, nx // 2].all()  # the gaps stay empty
    assert run["mosaic"].meta.resample.n_frames == 16


def test_mosaic_star_positions_match_the_truth(run):
    """Bright (S/N > 100), isolated, unflagged stars of all four detectors: median offset < 0.02, RMS < 0.05
    output pixel (as test_image3.py measures for one detector)."""
    dx, dy = bright_offsets(run["matched"])
    median, rms = (np.median(dx), np.median(dy)), np.sqrt(np.mean(dx**2 + dy**2))
    print(f"{len(dx)} stars: median offset {np.round(median, 4)} pixel, RMS {rms:.4f}")
    assert len(dx) >= 15  # 17 here: isolation and S/N > 100 leave few of 600 stars on 4 small detectors
    assert np.all(np.abs(median) < 0.02)
    assert rms < 0.05


def test_every_step_completes_on_every_frame(run):
    out = run["out"]
    header = fits.getheader(out / f"{PRODUCT}_i2d.fits")
    assert {keyword: header[keyword] for keyword in STATUS_KEYWORDS} == dict.fromkeys(STATUS_KEYWORDS, "COMPLETE")
    for path in run["dither"].all_cal:
        crf_header = fits.getheader(out / path.name.replace("_cal.fits", "_crf.fits"))
        assert {keyword: crf_header[keyword] for keyword in STATUS_KEYWORDS[:3]} == dict.fromkeys(STATUS_KEYWORDS[:3], "COMPLETE")
