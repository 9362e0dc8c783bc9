"""Simulated frames through ProcessImagerL2Pipeline, checked against the simulator's truth and photutils."""

import numpy as np
import pytest
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from photutils.centroids import centroid_2dg, centroid_sources

from frames import simulated_reference_steps
from liger_iris_pipeline import ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.science

SIZE = 512
CASES = {
    # The last exposure is checked: LIGER's second one is dithered. A flat flux distribution gives bright stars.
    "IRIS": dict(instrument="IRIS", pa_deg=0.0, n_exposures=1, pointing=(150.1, 2.2), flux_power_index=1.2),
    "LIGER": dict(instrument="LIGER", pa_deg=33.0, n_exposures=2, pointing=(270.5, -29.0), flux_power_index=1.2),
}


def reduce(simulated, exposure, skip_flat=False):
    steps = simulated_reference_steps(simulated)
    steps["flat_field"]["skip"] = skip_flat
    return ProcessImagerL2Pipeline.call(simulated.raw[exposure], steps=steps)


@pytest.fixture(scope="module", params=list(CASES))
def reduction(request, tmp_path_factory):
    """(simulated paths, calibrated model of the last exposure, its catalogue, truth, raw) for one case."""
    case = CASES[request.param]
    simulated = simulate_observation(tmp_path_factory.mktemp(request.param), size=SIZE, seed=7, **case)
    exposure = case["n_exposures"] - 1
    cal = reduce(simulated, exposure)
    path = tmp_path_factory.mktemp("cal") / "frame_cal.fits"
    cal.save(path)
    return {
        "simulated": simulated,
        "exposure": exposure,
        "cal": datamodels.open(path),
        "catalog": Table.read(simulated.catalogs[exposure]),
        "truth": datamodels.open(simulated.truth[exposure]),
        "true_flat": datamodels.open(simulated.true_flat),
        "true_dark": datamodels.open(simulated.true_dark),
    }


def expected_noise(reduction):
    """1-sigma noise of a perfectly calibrated pixel, from the truth alone (not from the pipeline's ERR).

    Raw rate R = F S + D has Poisson variance R / (g t) plus read noise (r / t)^2; after (R - D) / F the
    dark and flat reference errors add sigma_D^2 / F^2 and (S sigma_F / F)^2.
    """
    meta = reduction["catalog"].meta
    gain, exposure_time, read_noise = meta["gain"], meta["exposure_time"], meta["read_noise"]
    scene, flat, dark = reduction["truth"].data, reduction["true_flat"].data, reduction["true_dark"].data
    with datamodels.open(reduction["simulated"].dark) as dark_ref, datamodels.open(reduction["simulated"].flat) as flat_ref:
        dark_err, flat_err = dark_ref.err, flat_ref.err
    variance = (flat * scene + dark) / (gain * exposure_time) + (read_noise / exposure_time) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((variance + dark_err**2) / flat**2 + (scene * flat_err / flat) ** 2)


def test_calibrated_frame_matches_truth_within_the_expected_noise(reduction):
    cal, truth = reduction["cal"], reduction["truth"]
    good = cal.dq == 0
    assert good.mean() > 0.98
    sigma = expected_noise(reduction)
    normalised = (cal.data - truth.data)[good] / sigma[good]
    assert abs(np.mean(normalised)) < 0.02
    assert 0.97 < np.std(normalised) < 1.03
    # The pipeline's own ERR describes the same noise.
    assert np.median(cal.err[good] / sigma[good]) == pytest.approx(1.0, abs=0.03)


def test_the_residual_test_detects_a_missing_flat(reduction):
    """Without the flat the same comparison fails (the flat's few % exceed the 3% tolerance), so it has power."""
    uncorrected = reduce(reduction["simulated"], reduction["exposure"], skip_flat=True)
    good = uncorrected.dq == 0
    normalised = (uncorrected.data - reduction["truth"].data)[good] / expected_noise(reduction)[good]
    assert np.std(normalised) > 1.05


def test_flagged_pixels_are_the_simulated_bad_pixels(reduction):
    cal = reduction["cal"]
    flags = datamodels.dqflags.pixel
    dead = reduction["true_flat"].data == 0
    assert dead.any()
    assert np.all(cal.dq[dead] & flags["NO_FLAT_FIELD"])
    assert np.all(cal.dq[dead] & flags["DO_NOT_USE"])
    with datamodels.open(reduction["simulated"].mask) as mask:
        assert np.array_equal(cal.dq & mask.dq, mask.dq)


def isolated_clean_stars(catalog, cal, sigma_px, radius):
    """Stars with no neighbour within 3 aperture radii, fully inside the frame, and no flagged pixel in the aperture."""
    x, y = np.asarray(catalog["x"]), np.asarray(catalog["y"])
    separation = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(separation, np.inf)
    keep = separation.min(axis=1) > 3 * radius
    edge = 2.5 * radius
    keep &= (x > edge) & (x < cal.data.shape[1] - edge) & (y > edge) & (y < cal.data.shape[0] - edge)
    apertures = CircularAperture(np.column_stack([x, y]), r=radius)
    flagged = aperture_photometry((cal.dq != 0).astype(float), apertures)["aperture_sum"]
    return keep & (np.asarray(flagged) == 0)


def test_aperture_fluxes_agree_with_the_catalogue(reduction):
    cal, catalog = reduction["cal"], reduction["catalog"]
    sigma_px = catalog.meta["sigma_pixels"]
    radius = 5.0 * sigma_px  # encloses 1 - exp(-12.5) of a Gaussian: the aperture correction is negligible
    stars = isolated_clean_stars(catalog, cal, sigma_px, radius)
    assert stars.sum() >= 12
    positions = np.column_stack([catalog["x"], catalog["y"]])[stars]
    aperture = CircularAperture(positions, r=radius)
    annulus = CircularAnnulus(positions, r_in=2 * radius, r_out=3 * radius)
    background = ApertureStats(cal.data, annulus, mask=cal.dq != 0)
    photometry = aperture_photometry(cal.data, aperture, error=cal.err)
    flux = photometry["aperture_sum"] - background.median * aperture.area
    background_err = background.std * aperture.area / np.sqrt(background.sum_aper_area.value)
    error = np.hypot(photometry["aperture_sum_err"], background_err)
    z = (np.asarray(flux) - np.asarray(catalog["flux"][stars])) / np.asarray(error)
    assert np.mean(np.abs(z) < 3) > 0.95
    assert np.all(np.abs(z) < 5)
    assert abs(np.mean(z)) < 3 / np.sqrt(len(z))  # no overall photometric bias


def test_catalogue_stars_land_on_their_true_pixels(reduction):
    cal, catalog = reduction["cal"], reduction["catalog"]
    x, y = cal.meta.wcs.invert(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]))
    assert np.max(np.hypot(x - catalog["x"], y - catalog["y"])) < 0.1

    # Bright isolated stars, centroided on the image, sit where the WCS puts them.
    sigma_px = catalog.meta["sigma_pixels"]
    bright = isolated_clean_stars(catalog, cal, sigma_px, 5 * sigma_px) & (np.asarray(catalog["flux"]) > 300)
    assert bright.sum() >= 5
    box = 2 * int(4 * sigma_px) + 1
    xc, yc = centroid_sources(cal.data - np.median(cal.data), x[bright], y[bright], box_size=box, centroid_func=centroid_2dg)
    assert np.max(np.hypot(xc - x[bright], yc - y[bright])) < 0.1
