"""TweakRegStep on simulated dithers: the corrected WCS against the simulator's true WCS, the FITS keywords
against the gWCS, frames that cannot be aligned, and bad inputs."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, unique, vstack
from astropy.wcs import WCS

from dithered import calibrate_dither
from frames import make_frame
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.dqflags import pixel
from liger_iris_pipeline.tweakreg.tweakreg_step import TweakRegStep

#: Pixels (per axis) of the grid over each frame on which WCS are compared.
GRID = 16
MAS_PER_DEG = 3.6e6


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
    stars = unique(vstack([Table.read(path)["id", "ra", "dec"] for path in dither.simulated.catalogs], metadata_conflicts="silent"), keys="id")
    rng = np.random.default_rng(5)
    stars["dec"] += rng.normal(0, 0.5, len(stars)) / MAS_PER_DEG
    stars["ra"] += rng.normal(0, 0.5, len(stars)) / MAS_PER_DEG / np.cos(np.radians(stars["dec"]))
    refcat = tmp_path_factory.mktemp("refcat") / "stars.ecsv"
    stars.write(refcat)
    library = TweakRegStep.call(list(map(str, dither.cal)), abs_refcat=str(refcat))
    return corrected_frames(library), [true_wcs(catalog) for catalog in dither.simulated.catalogs]


@pytest.mark.science
def test_absolute_alignment_recovers_the_true_wcs(absolutely_aligned):
    frames, truths = absolutely_aligned
    absolute_rms = [rms(sky_errors_mas(wcs, truth, shape)) for (wcs, _, shape, *_), truth in zip(frames, truths)]
    print(f"absolute RMS (mas) {np.round(absolute_rms, 3)}")
    assert max(absolute_rms) < 1.0
    assert all('"absolute": {"status": "aligned"' in history[-2] for *_, history in frames)


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
