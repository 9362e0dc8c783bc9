"""ResampleStep and its drizzle module: hand-made frames whose mosaic is known, then a simulated dither against
its truth (star positions, the variance against the scatter of blank sky)."""

import numpy as np
import pytest
from astropy.table import Table, vstack
from photutils.centroids import centroid_2dg

from dithered import blank_sky, calibrate_dither, with_true_wcs
from frames import make_frame
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.assign_wcs.imager_wcs import fits_wcs_keywords, imaging_gwcs
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.resample import ResampleStep

FLAGS = datamodels.dqflags.pixel
SCALE_DEG = 0.004 / 3600.0


def wcs_frame(sci, var_rnoise=1.0, dq=None, crval=(150.0, 2.0), pa=0.0, scale_deg=SCALE_DEG, exposure_time=10.0):
    """A frame of ``sci`` with VAR_RNOISE ``var_rnoise`` (all its variance) and a TAN gWCS centred on it."""
    sci = np.asarray(sci, np.float32)
    model = make_frame(sci, err=np.sqrt(np.broadcast_to(var_rnoise, sci.shape)), dq=dq)
    ny, nx = sci.shape
    crpix = ((nx + 1) / 2.0, (ny + 1) / 2.0)
    model.meta.wcs = imaging_gwcs(crpix, crval, scale_deg, pa, sci.shape)
    for key, value in fits_wcs_keywords(crpix, crval, scale_deg, pa).items():
        setattr(model.meta.wcsinfo, key, value)
    model.meta.exposure.exposure_time = exposure_time
    model.meta.filename = f"frame_{id(model)}_cal.fits"
    return model


def test_a_frame_resampled_onto_its_own_grid_is_itself():
    rng = np.random.default_rng(1)
    sci = rng.normal(10.0, 1.0, (24, 32))
    var_rnoise = rng.uniform(0.5, 2.0, sci.shape)
    mosaic = ResampleStep.call([wcs_frame(sci, var_rnoise)])
    assert mosaic.data.shape == sci.shape
    np.testing.assert_allclose(mosaic.data, sci, rtol=1e-5)
    np.testing.assert_allclose(mosaic.var_rnoise, var_rnoise, rtol=1e-5)
    np.testing.assert_allclose(mosaic.err, np.sqrt(var_rnoise), rtol=1e-5)
    np.testing.assert_allclose(mosaic.wht, 1.0 / var_rnoise, rtol=1e-5)
    assert (mosaic.con == 1).all()
    assert mosaic.meta.cal_step.resample == "COMPLETE"
    assert mosaic.meta.resample.n_frames == 1 and mosaic.meta.exposure.exposure_time == 10.0


@pytest.mark.parametrize(
    "weight_type, expected_sci, expected_var",
    [
        # ivm: weights 1/1 and 1/4; sci (1 + 4/4) / 1.25, variance (1 + 4/16) / 1.25**2
        ("ivm", 1.6, 0.8),
        # exptime: weights 10 and 30; sci (10 + 120) / 40, variance (100 + 900 * 4) / 40**2
        ("exptime", 3.25, 2.3125),
    ],
)
def test_frames_are_weighted_and_their_variances_propagated(weight_type, expected_sci, expected_var):
    frames = [
        wcs_frame(np.full((8, 8), 1.0), var_rnoise=1.0, exposure_time=10.0),
        wcs_frame(np.full((8, 8), 4.0), var_rnoise=4.0, exposure_time=30.0),
    ]
    mosaic = ResampleStep.call(frames, weight_type=weight_type)
    np.testing.assert_allclose(mosaic.data, expected_sci, rtol=1e-5)
    np.testing.assert_allclose(mosaic.var_rnoise, expected_var, rtol=1e-5)
    assert (mosaic.con == 3).all() and mosaic.meta.exposure.exposure_time == 40.0


def test_do_not_use_pixels_are_left_out_and_other_flags_kept():
    dq = np.zeros((8, 8), np.uint32)
    dq[2, 3] = FLAGS["DO_NOT_USE"] | FLAGS["OUTLIER"]
    dq[5, 5] = FLAGS["HOT"]
    frames = [wcs_frame(np.full((8, 8), 1.0)), wcs_frame(np.full((8, 8), 3.0), dq=dq)]
    mosaic = ResampleStep.call(frames)
    assert mosaic.data[2, 3] == pytest.approx(1.0)
    assert mosaic.data[5, 5] == pytest.approx(2.0) and mosaic.data[0, 0] == pytest.approx(2.0)
    everything = ResampleStep.call(frames, good_bits="~0")  # nothing excludes a pixel
    assert everything.data[2, 3] == pytest.approx(2.0)


def test_no_usable_pixel_is_refused():
    dq = np.full((8, 8), FLAGS["DO_NOT_USE"], np.uint32)
    with pytest.raises(StepInputError, match="no frame has a usable pixel"):
        ResampleStep.call([wcs_frame(np.ones((8, 8)), dq=dq)])


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda model: setattr(model.meta, "wcs", None), "no WCS"),
        (lambda model: setattr(model.meta.instrument, "name", "LIGER") or setattr(model.meta.instrument, "detector", "IMG"), "INSTRUME 'LIGER' differs"),
        (lambda model: setattr(model.meta, "bunit_data", "DN"), "BUNIT 'DN'"),
    ],
)
def test_bad_frames_are_refused_naming_the_file(tmp_path, change, problem):
    good, bad = wcs_frame(np.ones((8, 8))), wcs_frame(np.ones((8, 8)))
    change(bad)
    paths = []
    for name, model in (("good_cal.fits", good), ("bad_cal.fits", bad)):
        model.save(tmp_path / name)
        paths.append(tmp_path / name)
    with pytest.raises(StepInputError, match=f"bad_cal.fits: .*{problem}"):
        ResampleStep.call(paths)


def test_drizzle_conserves_flux_at_another_scale_and_rotation():
    """Flat scene: each output pixel holds the input's DN/s times the pixel-area ratio; compact sources: the
    total DN/s of the mosaic is that of the frame. (Square kernel, pixfrac 1: with one frame, a smaller drop
    or the point kernel leaves output pixels uncovered, and drizzle's weighted mean conserves surface
    brightness, not flux, where drops do not tile the sky.)"""
    ratio = 0.6
    flat = ResampleStep.call([wcs_frame(np.full((64, 64), 7.0), pa=20.0)], pixel_scale_ratio=ratio, rotation=45.0)
    interior = flat.data[flat.data.shape[0] // 2 - 10 : flat.data.shape[0] // 2 + 10, flat.data.shape[1] // 2 - 10 : flat.data.shape[1] // 2 + 10]
    np.testing.assert_allclose(interior, 7.0 * ratio**2, rtol=1e-3)

    sources = np.zeros((64, 64))
    sources[20:23, 30:32] = [[100.0, 300.0], [50.0, 20.0], [5.0, 1000.0]]
    sources[45, 12] = 400.0
    for scale_ratio, rotation in ((ratio, 45.0), (1.0, 45.0), (1.7, 0.0)):
        mosaic = ResampleStep.call([wcs_frame(sources, pa=20.0)], pixel_scale_ratio=scale_ratio, rotation=rotation)
        assert np.nansum(mosaic.data) == pytest.approx(sources.sum(), rel=1e-3)


def test_mosaic_round_trips_through_its_file(tmp_path):
    frames = [wcs_frame(np.full((8, 8), 2.0)), wcs_frame(np.full((8, 8), 2.0), crval=(150.0, 2.0 + 4 * SCALE_DEG))]
    mosaic = ResampleStep.call(frames)
    mosaic.validate()
    path = mosaic.save(tmp_path / "field_i2d.fits")
    with datamodels.open(path) as read:
        assert isinstance(read, datamodels.MosaicModel)
        for name in ("data", "err", "var_poisson", "var_rnoise", "var_flat", "wht", "con"):
            np.testing.assert_array_equal(getattr(read, name), getattr(mosaic, name))
        assert read.data.shape == (12, 8)
        assert read.meta.resample.members == list(mosaic.meta.resample.members)
        assert (read.meta.resample.n_frames, read.meta.resample.kernel, read.meta.resample.pixfrac) == (2, "square", 1.0)
        assert read.meta.wcsinfo.ctype1 == "RA---TAN"
        np.testing.assert_allclose(read.meta.wcs(3.0, 5.0), mosaic.meta.wcs(3.0, 5.0), rtol=0, atol=1e-12)


# ---- a simulated 4-point dither, resampled with the true WCS (this tests resampling alone) ----


@pytest.fixture(scope="module")
def dither_frames(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dither")
    dither = calibrate_dither(directory, positions=4, size=384, n_stars=80, flux_range=(100.0, 3.0e4))
    return dither, list(with_true_wcs(dither, directory / "true_wcs"))


@pytest.fixture(scope="module")
def dither_mosaic(dither_frames):
    dither, frames = dither_frames
    catalog = vstack([Table.read(path) for path in dither.simulated.catalogs])
    catalog = catalog[np.unique(catalog["id"], return_index=True)[1]]
    return ResampleStep.call(frames), catalog, Table.read(dither.simulated.catalogs[0]).meta


def test_the_mosaic_is_the_same_bit_for_bit_made_by_one_process_or_two(dither_frames, dither_mosaic):
    """Two forked processes (the default) drizzle even and odd frames at once; one process makes the same two
    partial drizzles in turn: the products of a rerun do not depend on the cores a job was given."""
    one = ResampleStep.call(dither_frames[1], processes=1)
    two = dither_mosaic[0]
    for name in ("data", "wht", "con", "var_poisson", "var_rnoise", "var_flat", "err"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    with datamodels.open(dither_frames[1][0]) as frame:
        assert one.meta.exposure.exposure_time == two.meta.exposure.exposure_time == 4 * frame.meta.exposure.exposure_time


@pytest.mark.science
def test_star_positions_in_the_mosaic_match_the_truth(dither_mosaic):
    mosaic, catalog, meta = dither_mosaic
    x, y = mosaic.meta.wcs.invert(catalog["ra"], catalog["dec"], with_bounding_box=False)
    half = 6
    full = mosaic.con[0] == 15
    offsets = []
    for star, (xs, ys) in enumerate(zip(x, y)):
        others = np.hypot(x - xs, y - ys) < 4 * meta["fwhm_pixels"]
        brightest_other = catalog["flux"][others & (np.arange(len(x)) != star)].max(initial=0.0)
        ix, iy = int(round(xs)), int(round(ys))
        if catalog["flux"][star] < 300 or brightest_other > 0.01 * catalog["flux"][star]:
            continue  # faint, or not isolated
        window = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
        if iy < half or ix < half or not full[window].shape == (2 * half + 1,) * 2 or not full[window].all():
            continue  # not in the part every frame covers
        cx, cy = centroid_2dg(mosaic.data[window] - np.median(mosaic.data[full]))
        offsets.append((cx + ix - half - xs, cy + iy - half - ys))
    offsets = np.array(offsets)
    print(f"{len(offsets)} stars: median offset {np.median(offsets, axis=0)}, rms {np.sqrt(np.mean(np.sum(offsets**2, axis=1)))}")
    assert len(offsets) >= 5
    assert np.all(np.abs(np.median(offsets, axis=0)) < 0.02)
    assert np.sqrt(np.mean(np.sum(offsets**2, axis=1))) < 0.05


@pytest.mark.science
def test_mosaic_variance_matches_the_scatter_of_blank_sky(dither_mosaic):
    """chi^2 per degree of freedom of (SCI - sky) / ERR over blank pixels covered by every frame is 1 within 10 %.

    ERR is each output pixel's own variance (drizzle's squared-weight sum), so the distribution of single pixels
    is its test; their correlation (pixfrac 1) would show only in sums over several pixels, which this leaves
    out."""
    mosaic, catalog, meta = dither_mosaic
    x, y = mosaic.meta.wcs.invert(catalog["ra"], catalog["dec"], with_bounding_box=False)
    blank = blank_sky(mosaic, x, y, catalog["flux"], meta["sigma_pixels"], 4)
    sky = np.median(mosaic.data[blank])
    chi2 = np.mean(((mosaic.data[blank] - sky) / mosaic.err[blank]) ** 2)
    print(f"{blank.sum()} blank pixels: chi2/dof {chi2:.4f}")
    assert blank.sum() > 10000
    assert abs(chi2 - 1.0) < 0.1
