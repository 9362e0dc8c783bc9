"""TweakRegStep on simulated dithers: the corrected WCS against the simulator's true WCS, the FITS keywords
against the gWCS, frames that cannot be aligned, and bad inputs."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.modeling import models
from astropy.wcs import WCS

from dithered import MAS_PER_DEG, calibrate_dither, reference_catalog
from frames import make_frame
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.dqflags import pixel
from liger_iris_pipeline.assign_wcs.imager_wcs import imaging_gwcs
from liger_iris_pipeline.tweakreg.alignment import FitParameters, MatchParameters, align_absolute, first_copies
from liger_iris_pipeline.tweakreg.tweakreg_step import TweakRegStep
from liger_iris_pipeline.tweakreg.wcs_correction import GWCSCorrector

#: Pixels (per axis) of the grid over each frame on which WCS are compared.
GRID = 16
#: Noise (mas per axis) of the absolute catalogue's positions.
REFCAT_NOISE_MAS = 0.5


@pytest.fixture(scope="module")
def dithers(tmp_path_factory):
    """Calibrated 4- and 9-point dithers (default pointing errors ~20 mas per axis, rotations up to 0.01 deg)."""
    return {n: calibrate_dither(tmp_path_factory.mktemp(f"dither{n}"), positions=n) for n in (4, 9)}


def true_wcs(catalog):
    return WCS(Table.read(catalog).meta["true_wcs"])


def sky_errors_mas(frame_wcs, truth, shape):
    """(east, north) in mas of ``frame_wcs`` minus the true WCS at a grid of pixels over the frame."""
    ny, nx = shape
    x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, nx - 1, GRID), np.linspace(0, ny - 1, GRID)))
    ra, dec = frame_wcs(x, y)
    true_ra, true_dec = truth.all_pix2world(x, y, 0)
    return np.column_stack([(ra - true_ra) * np.cos(np.radians(true_dec)), dec - true_dec]) * MAS_PER_DEG


def corrected_frames(library):
    """[(gWCS, wcsinfo dict, shape, status, history descriptions)] of each member."""
    frames = []
    for index in range(len(library)):
        with library.frame(index) as model:
            frames.append((
                model.meta.wcs, model.meta.wcsinfo.instance, model.data.shape, model.meta.cal_step.tweakreg,
                [entry["description"] for entry in model.history],
            ))
    return frames


def rms(errors):
    return float(np.sqrt(np.mean(np.sum(errors**2, axis=1))))


@pytest.mark.science
@pytest.mark.parametrize("positions", [4, 9])
def test_relative_alignment_recovers_the_pointing_errors(dithers, positions):
    dither = dithers[positions]
    frames = corrected_frames(TweakRegStep.call(list(map(str, dither.cal))))
    truths = [true_wcs(catalog) for catalog in dither.simulated.catalogs]
    errors = np.array([sky_errors_mas(wcs, truth, shape) for (wcs, _, shape, *_), truth in zip(frames, truths)])
    common = errors.mean(axis=(0, 1))  # what relative alignment cannot know
    relative_rms = [rms(frame_errors - common) for frame_errors in errors]
    before = [rms(sky_errors_mas(datamodels.open(path).meta.wcs, truth, frames[0][2]) - common) for path, truth in zip(dither.cal, truths)]
    print(f"{positions}-point relative RMS (mas) {np.round(relative_rms, 3)}, before {np.round(before, 1)}")
    assert max(relative_rms) < 1.0
    assert max(before) > 5.0  # the pointing errors were there to be found
    assert [status for _, _, _, status, _ in frames] == ["COMPLETE"] * positions
    assert all(any("tweakreg fit" in entry and "rms_mas" in entry for entry in history) for *_, history in frames if "reference" not in history[-2])


@pytest.fixture(scope="module")
def absolutely_aligned(dithers, tmp_path_factory):
    """The 4-point dither aligned to the true RA/Dec of its stars with 0.5 mas of noise; the truths."""
    dither = dithers[4]
    refcat = tmp_path_factory.mktemp("refcat") / "stars.ecsv"
    reference_catalog(dither.simulated.catalogs, refcat, REFCAT_NOISE_MAS, seed=5)
    library = TweakRegStep.call(list(map(str, dither.cal)), abs_refcat=str(refcat))
    return corrected_frames(library), [true_wcs(catalog) for catalog in dither.simulated.catalogs]


@pytest.mark.science
def test_absolute_alignment_recovers_the_true_wcs(absolutely_aligned):
    frames, truths = absolutely_aligned
    absolute_rms = [rms(sky_errors_mas(wcs, truth, shape)) for (wcs, _, shape, *_), truth in zip(frames, truths)]
    print(f"absolute RMS (mas) {np.round(absolute_rms, 3)}")
    assert max(absolute_rms) < 1.0
    assert all('"absolute": {"status": "aligned"' in history[-2] for *_, history in frames)


def test_the_absolute_alignment_sees_each_star_of_the_group_once():
    """Nine dithered frames of the same 300 stars: the group's catalogue keeps every star seen once, in the
    first frame that sees it (alignment.py: each star's copies are not offered to the match)."""
    rng = np.random.default_rng(3)
    scale, shape = 0.004 / 3600.0, (1024, 1024)
    sky = imaging_gwcs((512.5, 512.5), (150.0, 2.0), scale, 0.0, shape)
    ra, dec = sky(*rng.uniform(-60, 1084, (2, 300)), with_bounding_box=False)
    correctors, seen = [], []
    for dx, dy in [(dx, dy) for dx in (-40, 0, 40) for dy in (-40, 0, 40)]:
        frame_wcs = imaging_gwcs((512.5 + dx, 512.5 + dy), (150.0, 2.0), scale, 0.0, shape)
        x, y = frame_wcs.invert(ra, dec, with_bounding_box=False)
        inside = (x > 0) & (x < 1023) & (y > 0) & (y < 1023)
        catalog = Table({"x": x[inside] + rng.normal(0, 0.05, inside.sum()), "y": y[inside] + rng.normal(0, 0.05, inside.sum())})
        correctors.append(GWCSCorrector(frame_wcs, meta={"name": f"{dx},{dy}", "catalog": catalog}))
        seen.append(np.flatnonzero(inside))
    masks = first_copies(correctors, 0.025)
    kept = np.concatenate([stars[mask] for stars, mask in zip(seen, masks)])
    assert sorted(kept) == sorted(set(np.concatenate(seen)))
    assert masks[0].all() and sum(mask.sum() for mask in masks) < sum(len(mask) for mask in masks) / 3


@pytest.mark.science
def test_absolute_alignment_of_a_group_to_exact_positions_is_unbiased():
    """Nine frames sharing one pointing error of (3.3, 8.7) mas, each star measured in every frame (0.05 to
    0.6 pixel of noise, bright to faint), aligned to the exact RA/Dec: what is left is the noise averaged over
    the matches, ~0.03 mas. Offering the match every frame's copy of a star left 0.5 mas of it here, 0.13 mas on
    a simulated 9-point dither (alignment.py)."""
    rng = np.random.default_rng(3)
    scale, shape, error_deg = 0.004 / 3600.0, (1024, 1024), np.array([3.3, 8.7]) / MAS_PER_DEG
    sky = imaging_gwcs((512.5, 512.5), (150.0, 2.0), scale, 0.0, shape)
    stars = Table(dict(zip(("RA", "DEC"), sky(*rng.uniform(-60, 1084, (2, 300)), with_bounding_box=False))))
    noise = 0.03 / rng.uniform(0.05, 1.0, 300)
    correctors, truths = [], []
    for dx, dy in [(dx, dy) for dx in (-40, 0, 40) for dy in (-40, 0, 40)]:
        truth = imaging_gwcs((512.5 + dx, 512.5 + dy), (150.0, 2.0), scale, 0.0, shape)
        x, y = truth.invert(stars["RA"], stars["DEC"], with_bounding_box=False)
        inside = (x > 0) & (x < 1023) & (y > 0) & (y < 1023)
        catalog = Table({"x": x[inside] + rng.normal(0, noise[inside]), "y": y[inside] + rng.normal(0, noise[inside])})
        pointing = imaging_gwcs((512.5 + dx, 512.5 + dy), (150.0 + error_deg[0] / np.cos(np.radians(2.0)), 2.0 + error_deg[1]), scale, 0.0, shape)
        correctors.append(GWCSCorrector(pointing, meta={"name": f"{dx},{dy}", "catalog": catalog}))
        truths.append(truth)
    outcomes = align_absolute(correctors, stars, MatchParameters(1.0, 0.05, 0.02), FitParameters("rshift", 15, 3, 3.0))
    assert all(outcome.succeeded for outcome in outcomes)
    x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, 1023, GRID), np.linspace(0, 1023, GRID)))
    errors = []
    for corrector, truth in zip(correctors, truths):
        ra, dec = corrector.wcs(x, y, with_bounding_box=False)
        true_ra, true_dec = truth(x, y, with_bounding_box=False)
        errors.append(np.column_stack([(ra - true_ra) * np.cos(np.radians(true_dec)), dec - true_dec]) * MAS_PER_DEG)
    common = np.mean(errors, axis=(0, 1))
    print(f"offset left (mas) {np.round(common, 4)} of {error_deg * MAS_PER_DEG}")
    assert np.hypot(*common) < 0.04


@pytest.mark.science
def test_fits_keywords_agree_with_the_corrected_gwcs(absolutely_aligned):
    frames, _ = absolutely_aligned
    worst = 0.0
    for frame_wcs, wcsinfo, shape, *_ in frames:
        header = WCS(fits.Header({key.upper(): value for key, value in wcsinfo.items()}))
        ny, nx = shape
        x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, nx - 1, GRID), np.linspace(0, ny - 1, GRID)))
        header_x, header_y = header.all_world2pix(*frame_wcs(x, y), 0)
        worst = max(worst, float(np.max(np.hypot(header_x - x, header_y - y))))
        assert "tangent_plane_correction" in [model.name for model in frame_wcs.forward_transform]
    print(f"FITS keywords vs gWCS: {worst:.2e} pixel")
    assert worst < 1e-3


@pytest.fixture(scope="module")
def mosaic_dither(tmp_path_factory):
    """A 4-point dither (0.2" steps) of IRIS's four detectors, 256 x 256 here: the 1.2" gaps are wider than the
    dither, so no frame overlaps a frame of another detector, and each frame has fewer than minobj (15) stars."""
    return calibrate_dither(tmp_path_factory.mktemp("mosaic_dither"), positions=4, size=256, n_detectors=4)


@pytest.fixture(scope="module")
def mosaic_aligned(mosaic_dither, tmp_path_factory):
    """The mosaic dither's 16 frames aligned relatively and to an absolute catalogue (truth + 0.5 mas), and the
    errors (mas, east and north, on a grid) of each frame's WCS against the truth: before, relative, absolute."""
    refcat = tmp_path_factory.mktemp("mosaic_refcat") / "stars.ecsv"
    reference_catalog(mosaic_dither.all_catalogs, refcat, REFCAT_NOISE_MAS, seed=7)
    cal = list(map(str, mosaic_dither.all_cal))
    runs = {"relative": corrected_frames(TweakRegStep.call(cal)), "absolute": corrected_frames(TweakRegStep.call(cal, abs_refcat=str(refcat)))}
    truths = [true_wcs(catalog) for catalog in mosaic_dither.all_catalogs]
    shape = runs["relative"][0][2]
    errors = {"before": np.array([sky_errors_mas(datamodels.open(path).meta.wcs, truth, shape) for path, truth in zip(cal, truths)])}
    for name, frames in runs.items():
        errors[name] = np.array([sky_errors_mas(frame[0], truth, shape) for frame, truth in zip(frames, truths)])
    return runs, errors


@pytest.mark.science
def test_the_detectors_of_a_mosaic_are_aligned_by_exposure(mosaic_aligned):
    """Each exposure's four detectors are one group: every frame is aligned, to < 1 mas RMS after the common
    offset (relative) and against the truth (absolute), though no frame overlaps another detector's and no frame
    has minobj stars of its own (main, frame by frame: 15 of 16 SKIPPED, errors of 20-30 mas)."""
    runs, errors = mosaic_aligned
    common = errors["relative"].mean(axis=(0, 1))
    relative_rms = [rms(frame - common) for frame in errors["relative"]]
    absolute_rms = [rms(frame) for frame in errors["absolute"]]
    before = [rms(frame - errors["before"].mean(axis=(0, 1))) for frame in errors["before"]]
    print(f"mosaic: relative RMS (mas) {np.round(relative_rms, 3)}, absolute {np.round(absolute_rms, 3)}, before {np.round(before, 1)}")
    assert max(relative_rms) < 1.0 and max(absolute_rms) < 1.0
    assert max(before) > 5.0
    for frames in runs.values():
        assert [status for _, _, _, status, _ in frames] == ["COMPLETE"] * 16
    assert '"group": "P001/001/3"' in runs["absolute"][2][4][-2]


@pytest.mark.science
def test_an_exposure_is_corrected_as_one_rigid_body(mosaic_dither, mosaic_aligned):
    """The alignment moves the four detectors of an exposure by one rotation and shift on the sky: fitted to the
    moves of all four together, it leaves < 1 micro-arcsec."""
    runs, _ = mosaic_aligned
    n_positions = len(mosaic_dither.cal)
    for exposure in range(n_positions):
        members = range(exposure, 16, n_positions)  # all_cal is detector by detector
        before, after = [], []
        for index in members:
            with datamodels.open(mosaic_dither.all_cal[index]) as model:
                before.append(sky_grid(model.meta.wcs, model.data.shape))
            after.append(sky_grid(runs["absolute"][index][0], runs["absolute"][index][2]))
        plane = models.RotateCelestial2Native(*np.mean(np.vstack(before), axis=0), 180.0) | models.Sky2Pix_TAN()
        start = np.column_stack(plane(*np.vstack(before).T)) * 3600e3
        end = np.column_stack(plane(*np.vstack(after).T)) * 3600e3
        moved = rigid_fit(start, end)
        assert np.max(np.hypot(*(end - moved).T)) < 1e-3
        assert np.max(np.hypot(*(end - start).T)) > 5.0  # the exposure did move


def sky_grid(frame_wcs, shape):
    """(RA, Dec) rows of a GRID x GRID of pixels over a frame of ``shape``."""
    ny, nx = shape
    x, y = (axis.ravel() for axis in np.meshgrid(np.linspace(0, nx - 1, GRID), np.linspace(0, ny - 1, GRID)))
    return np.column_stack(frame_wcs(x, y))


def rigid_fit(start, end):
    """``start`` points moved by the rotation and shift that best carries them onto ``end`` (least squares)."""
    centre_start, centre_end = start.mean(axis=0), end.mean(axis=0)
    u, _, vt = np.linalg.svd((start - centre_start).T @ (end - centre_end))
    rotation = (u @ vt).T
    return (start - centre_start) @ rotation.T + centre_end


def test_a_frame_with_too_few_stars_is_skipped_and_unchanged(dithers, tmp_path):
    paths = list(map(str, dithers[4].cal))
    starved = datamodels.open(paths[1])
    starved.dq[64:, :] |= pixel["DO_NOT_USE"]  # a 64-row strip left: a few stars
    paths[1] = str(tmp_path / "starved_cal.fits")
    starved.save(paths[1])
    frames = corrected_frames(TweakRegStep.call(paths))
    assert [status for _, _, _, status, _ in frames] == ["COMPLETE", "SKIPPED", "COMPLETE", "COMPLETE"]
    x, y = np.meshgrid(np.arange(0, 512, 37.0), np.arange(0, 512, 41.0))
    np.testing.assert_array_equal(np.array(frames[1][0](x, y)), np.array(starved.meta.wcs(x, y)))
    assert frames[1][1] == starved.meta.wcsinfo.instance
    assert "minobj" in frames[1][4][-2]


def test_when_no_frame_can_be_aligned_every_frame_is_skipped(dithers, tmp_path, caplog):
    frames = corrected_frames(TweakRegStep.call(list(map(str, dithers[4].cal[:2])), minobj=1000))
    assert [status for _, _, _, status, _ in frames] == ["SKIPPED", "SKIPPED"]
    assert "no frame could be aligned" in caplog.text


@pytest.fixture
def frame_paths(dithers):
    return list(map(str, dithers[4].cal[:2]))


def one_line_error(run, *names):
    with pytest.raises(StepInputError) as error:
        run()
    message = str(error.value)
    assert "\n" not in message and all(name in message for name in names), message


def test_a_frame_without_wcs_is_refused(frame_paths, tmp_path):
    frame = make_frame(np.ones((16, 16)))
    path = tmp_path / "nowcs_cal.fits"
    frame.save(path)
    one_line_error(lambda: TweakRegStep.call([*frame_paths, str(path)]), "nowcs_cal.fits", "no WCS")


def test_mixed_instruments_are_refused(frame_paths, tmp_path):
    path = tmp_path / "liger_cal.fits"
    make_frame(np.ones((16, 16)), instrument="LIGER").save(path)
    one_line_error(lambda: TweakRegStep.call([*frame_paths, str(path)]), "liger_cal.fits", "LIGER")


@pytest.mark.parametrize(
    "content, problem",
    [("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: x, datatype: float64}\n# schema: astropy-2.0\nx\n1.0\n", "no ra or dec"),
     ("not a catalogue \x00\x01", "cannot read")],
)
def test_bad_reference_catalogues_are_refused(frame_paths, tmp_path, content, problem):
    path = tmp_path / "refcat.ecsv"
    path.write_text(content)
    one_line_error(lambda: TweakRegStep.call(frame_paths, abs_refcat=str(path)), "refcat.ecsv", problem)
