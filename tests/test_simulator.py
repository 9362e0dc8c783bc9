"""The simulator: files, metadata, determinism, and its physics against independent calculations."""

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import liger_iris_pipeline.simulator
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.cli import main

FLAGS = datamodels.dqflags.pixel
SIZE = 256
PA_DEG = 30.0


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """Three dithered IRIS exposures of 256 x 256 pixels at PA 30 deg."""
    return simulate_observation(
        tmp_path_factory.mktemp("sim"), size=SIZE, n_exposures=3, seed=7, n_stars=20, pa_deg=PA_DEG
    )


def read_arrays(path):
    with fits.open(path) as hdulist:
        return {hdu.name: hdu.data.copy() for hdu in hdulist if hdu.is_image and hdu.data is not None}


def pc_matrix_wcs(model):
    """TAN WCS of a raw frame in the PC-matrix form, built here from its pointing keywords alone."""
    ny, nx = model.data.shape
    scale = model.meta.instrument.pixel_scale / 3600.0
    pa = math.radians(model.meta.pointing.pa)
    frame_wcs = WCS(naxis=2)
    frame_wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    frame_wcs.wcs.crpix = [(nx + 1) / 2, (ny + 1) / 2]
    frame_wcs.wcs.crval = [model.meta.pointing.ra, model.meta.pointing.dec]
    frame_wcs.wcs.cdelt = [-scale, scale]
    frame_wcs.wcs.pc = [[math.cos(pa), -math.sin(pa)], [math.sin(pa), math.cos(pa)]]
    return frame_wcs


def test_simulator_imports_no_calibration_code():
    """The truth must not come from the code it checks: no step, algorithm module or gwcs."""
    allowed_own = {
        "datamodels", "instruments", "dqflags", "reference_names", "scene", "detector", "dither", "ramp", "distortion", "simulate",
    }
    for source in Path(liger_iris_pipeline.simulator.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module] if node.module else [alias.name for alias in node.names]
                own = node.level > 0
            elif isinstance(node, ast.Import):
                modules, own = [alias.name for alias in node.names], False
            else:
                continue
            for module in modules:
                assert not module.startswith("gwcs"), f"{source.name} imports {module}"
                if own or module.startswith("liger_iris_pipeline"):
                    first = module.removeprefix("liger_iris_pipeline.").split(".")[0]
                    assert first in allowed_own, f"{source.name} imports {module}"


def test_writes_named_files(observation):
    names = [path.name for path in observation.all_paths()]
    assert names[:3] == [
        "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits",
        "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_catalog.ecsv",
        "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_truth.fits",
    ]
    assert observation.raw[2].name == "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0003.fits"
    assert observation.dark.name == "IRIS_IMG1_DARK_20200101T000000_1.fits"
    assert observation.mask.name == "IRIS_IMG1_MASK_20200101T000000_1.fits"
    assert observation.flat.name == "IRIS_IMG1_FLAT_20200101T000000_1.fits"
    assert all(path.is_file() for path in observation.all_paths())


def test_raw_frames_open_with_metadata(observation):
    starts = []
    for number, path in enumerate(observation.raw, start=1):
        with datamodels.open(path) as model:
            assert isinstance(model, datamodels.ImagerModel)
            assert model.data.dtype == np.float32 and model.data.shape == (SIZE, SIZE)
            assert np.isfinite(model.data).all() and np.isfinite(model.err).all() and (model.err > 0).all()
            assert not model.dq.any()
            meta = model.meta
            assert (meta.telescope, meta.instrument.name, meta.instrument.detector) == ("TMT", "IRIS", "IMG1")
            assert (meta.instrument.mode, meta.instrument.pixel_scale) == ("IMG", 0.004)
            assert (meta.exposure.type, meta.exposure.readmode, meta.exposure.number) == ("SCIENCE", "ROP", number)
            assert (meta.bunit_data, meta.bunit_err) == ("DN/s", "DN/s")
            assert (meta.subarray.name, meta.subarray.xsize, meta.subarray.ysize) == ("FULL", SIZE, SIZE)
            assert (meta.observation.program_number, meta.observation.observation_number) == ("P001", "001")
            assert meta.observation.date == "2027-05-01"
            assert meta.pointing.pa == PA_DEG
            starts.append(meta.exposure.start_time)
        with fits.open(path) as hdulist:
            assert "CTYPE1" not in hdulist["SCI"].header and "CRVAL1" not in hdulist[0].header
    assert np.all(np.diff(starts) * 86400 == pytest.approx(70.0))  # 60 s exposure + 10 s overhead


def test_references_and_truth_open_with_metadata(observation):
    for path, model_class, reftype in (
        (observation.mask, datamodels.MaskModel, "MASK"),
        (observation.dark, datamodels.DarkModel, "DARK"),
        (observation.flat, datamodels.FlatModel, "FLAT"),
        (observation.true_dark, datamodels.DarkModel, "DARK"),
        (observation.true_flat, datamodels.FlatModel, "FLAT"),
    ):
        with datamodels.open(path) as model:
            assert isinstance(model, model_class)
            assert (model.meta.reftype, model.meta.pedigree) == (reftype, "SIMULATION")
            assert model.meta.useafter == "2020-01-01T00:00:00"
            assert (model.meta.instrument.name, model.meta.instrument.detector) == ("IRIS", "IMG1")
            assert model.meta.description and model.meta.author and model.meta.date
            assert model.dq.shape == (SIZE, SIZE)
    with datamodels.open(observation.dark) as dark:
        assert (dark.meta.bunit_data, dark.meta.bunit_err) == ("DN/s", "DN/s")
    for path in observation.truth:
        with datamodels.open(path) as truth:
            assert isinstance(truth, datamodels.ImagerModel) and truth.meta.bunit_data == "DN/s"


def test_bad_pixels_are_consistent_across_references(observation):
    mask = read_arrays(observation.mask)["DQ"]
    dark = read_arrays(observation.dark)
    flat = read_arrays(observation.flat)["SCI"]
    true_flat = read_arrays(observation.true_flat)["SCI"]
    true_dark = read_arrays(observation.true_dark)["SCI"]
    dead = (mask & FLAGS["DEAD"]) > 0
    assert dead.any() and np.all(mask[dead] & FLAGS["DO_NOT_USE"])
    np.testing.assert_array_equal(dead, true_flat == 0)
    np.testing.assert_array_equal(dead, flat == 0)
    low_qe = (mask & FLAGS["LOW_QE"]) > 0
    assert low_qe.any() and np.all((true_flat[low_qe] > 0.2) & (true_flat[low_qe] < 0.4))
    hot = (mask & FLAGS["HOT"]) > 0
    np.testing.assert_array_equal(hot, (dark["DQ"] & FLAGS["HOT"]) > 0)
    assert hot.any() and np.all((true_dark[hot] >= 5) & (true_dark[hot] <= 50))
    warm = (dark["DQ"] & FLAGS["WARM"]) > 0
    assert warm.any() and np.all(true_dark[warm] < 5)
    normal = (mask == 0) & (dark["DQ"] == 0)
    assert np.all((true_dark[normal] >= 0.01) & (true_dark[normal] <= 0.05))
    both_normal = normal[:, 1:] & normal[:, :-1]
    pixel_to_pixel = np.diff(true_flat, axis=1)[both_normal] / math.sqrt(2)  # the smooth pattern cancels
    assert np.std(pixel_to_pixel) == pytest.approx(0.01, rel=0.1)
    assert np.std(flat[normal] - true_flat[normal]) == pytest.approx(0.002, rel=0.1)
    assert np.std(dark["SCI"][normal] - true_dark[normal]) == pytest.approx(0.002, rel=0.1)


def test_dead_pixels_are_finite_dark_plus_noise(observation):
    mask = read_arrays(observation.mask)["DQ"]
    true_dark = read_arrays(observation.true_dark)["SCI"]
    raw = read_arrays(observation.raw[0])
    dead = (mask & FLAGS["DEAD"]) > 0
    assert np.isfinite(raw["SCI"][dead]).all()
    assert np.all(np.abs(raw["SCI"][dead] - true_dark[dead]) < 6 * raw["ERR"][dead] + 0.1)


def test_same_seed_same_arrays_different_seed_different(tmp_path):
    first, again, other = (
        simulate_observation(tmp_path / name, size=128, seed=seed, n_stars=5)
        for name, seed in (("first", 1), ("again", 1), ("other", 2))
    )
    for path_first, path_again in zip(first.all_paths(), again.all_paths()):
        if path_first.suffix == ".ecsv":
            assert Table.read(path_first).values_equal(Table.read(path_again))
            continue
        arrays_first, arrays_again = read_arrays(path_first), read_arrays(path_again)
        assert arrays_first.keys() == arrays_again.keys()
        for name in arrays_first:
            np.testing.assert_array_equal(arrays_first[name], arrays_again[name])
    for path_first, path_other in zip(first.all_paths(), other.all_paths()):
        if path_first.suffix == ".fits":
            first_array = read_arrays(path_first).get("SCI", read_arrays(path_first)["DQ"])
            other_array = read_arrays(path_other).get("SCI", read_arrays(path_other)["DQ"])
            assert not np.array_equal(first_array, other_array)


def test_more_exposures_keep_the_first(tmp_path):
    single = simulate_observation(tmp_path / "one", size=128, seed=4, n_stars=5)
    triple = simulate_observation(tmp_path / "three", size=128, seed=4, n_stars=5, n_exposures=3)
    np.testing.assert_array_equal(read_arrays(single.raw[0])["SCI"], read_arrays(triple.raw[0])["SCI"])


@pytest.mark.science
def test_catalog_matches_independent_pc_matrix_wcs(observation):
    positions = []
    for raw_path, catalog_path in zip(observation.raw, observation.catalogs):
        catalog = Table.read(catalog_path)
        with datamodels.open(raw_path) as model:
            x, y = pc_matrix_wcs(model).all_world2pix(catalog["ra"], catalog["dec"], 0)
        np.testing.assert_allclose(x, catalog["x"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(y, catalog["y"], rtol=0, atol=1e-6)
        positions.append((np.asarray(catalog["x"]), np.asarray(catalog["y"])))
        assert catalog.meta["sigma_pixels"] == pytest.approx(0.016 / 0.004 / (2 * math.sqrt(2 * math.log(2))))
        assert {"fwhm_pixels", "exposure_time", "gain", "read_noise"} <= set(catalog.meta)
    catalogs = [Table.read(path) for path in observation.catalogs]
    for catalog in catalogs[1:]:
        np.testing.assert_array_equal(catalog["ra"], catalogs[0]["ra"])
        np.testing.assert_array_equal(catalog["flux"], catalogs[0]["flux"])
    for x, y in positions[1:]:  # dithers move every star by the same few pixels
        shift = np.hypot(x - positions[0][0], y - positions[0][1])
        assert np.ptp(shift) < 1e-6 and 0 < shift[0] < 6


@pytest.mark.science
def test_sky_orientation_at_zero_position_angle(tmp_path):
    """At PA 0 north is +Y and east is -X: checked with small-angle arithmetic, no WCS library."""
    result = simulate_observation(tmp_path, size=128, seed=5, n_stars=10, pointing=(10.0, 0.0))
    catalog = Table.read(result.catalogs[0])
    centre = (128 - 1) / 2
    scale = 0.004 / 3600
    np.testing.assert_allclose(catalog["ra"], 10.0 - (catalog["x"] - centre) * scale, rtol=0, atol=1e-3 * scale)
    np.testing.assert_allclose(catalog["dec"], (catalog["y"] - centre) * scale, rtol=0, atol=1e-3 * scale)


@pytest.mark.science
def test_truth_holds_each_isolated_star_flux(observation):
    catalog = Table.read(observation.catalogs[0])
    truth = read_arrays(observation.truth[0])["SCI"]
    sky = catalog.meta["sky_rate"]
    half = math.ceil(6 * catalog.meta["sigma_pixels"]) + 1
    x, y = np.asarray(catalog["x"]), np.asarray(catalog["y"])
    # No other star's rendering stamp reaches into the box of +-half pixels around this star's pixel.
    separation = np.maximum(np.abs(x[:, None] - x[None, :]), np.abs(y[:, None] - y[None, :]))
    isolated = np.flatnonzero((separation + np.eye(len(x)) * 1e9).min(axis=1) > 2 * half + 1)
    assert isolated.size >= 3
    for star in isolated:
        column, row = round(x[star]), round(y[star])
        box = truth[row - half : row + half + 1, column - half : column + half + 1]
        expected = catalog["flux"][star] + sky * box.size
        assert box.sum(dtype=np.float64) == pytest.approx(expected, rel=0.01)
        assert box.sum(dtype=np.float64) - sky * box.size == pytest.approx(catalog["flux"][star], rel=0.01)
        expected_stamp = catalog["flux"][star] * supersampled_gaussian(
            x[star] - column, y[star] - row, catalog.meta["sigma_pixels"], half
        )
        np.testing.assert_allclose(box - sky, expected_stamp, rtol=0, atol=1e-4 * catalog["flux"][star])


def supersampled_gaussian(dx, dy, sigma, half, subsamples=25):
    """Unit-flux Gaussian at (dx, dy) from the centre of a (2 half + 1)**2 box, averaged over sub-pixels."""
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    centres = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
    gaussian_x = np.exp(-0.5 * ((centres - dx) / sigma) ** 2).reshape(-1, subsamples).mean(axis=1)
    gaussian_y = np.exp(-0.5 * ((centres - dy) / sigma) ** 2).reshape(-1, subsamples).mean(axis=1)
    return np.outer(gaussian_y, gaussian_x) / (2 * np.pi * sigma**2)


@pytest.mark.science
def test_raw_noise_matches_its_error(observation):
    mask = read_arrays(observation.mask)["DQ"]
    dark_dq = read_arrays(observation.dark)["DQ"]
    true_flat = read_arrays(observation.true_flat)["SCI"].astype(np.float64)
    true_dark = read_arrays(observation.true_dark)["SCI"].astype(np.float64)
    good = (mask == 0) & (dark_dq == 0)
    for raw_path, truth_path in zip(observation.raw, observation.truth):
        raw = read_arrays(raw_path)
        truth = read_arrays(truth_path)["SCI"]
        normalised = (raw["SCI"] - (true_flat * truth + true_dark)) / raw["ERR"]
        assert 0.9 < np.std(normalised[good]) < 1.1
        assert abs(np.mean(normalised[good])) < 0.05
        # ERR**2 split as a readout processor would: VAR_RNOISE = (r / t)**2, VAR_POISSON = max(SCI, 0) / (g t).
        with datamodels.open(raw_path) as model:
            exposure = model.meta.exposure
            noise_free = raw["VAR_POISSON"] * exposure.gain * exposure.exposure_time
            np.testing.assert_allclose(noise_free, np.maximum(raw["SCI"], 0), rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(raw["VAR_RNOISE"], raw["VAR_RNOISE"].flat[0])
        assert raw["VAR_RNOISE"].flat[0] > 0 and not raw["VAR_FLAT"].any()
        np.testing.assert_allclose(raw["ERR"] ** 2, raw["VAR_POISSON"] + raw["VAR_RNOISE"], rtol=1e-6)


def test_liger_frames(tmp_path):
    result = simulate_observation(tmp_path, instrument="liger", size=128, n_stars=3)
    assert result.raw[0].name == "2027A-P001-001_Liger_IMG_SCI_LVL1_0001.fits"
    assert result.flat.name == "Liger_IMG_FLAT_20200101T000000_1.fits"
    with datamodels.open(result.raw[0]) as model:
        assert (model.meta.telescope, model.meta.instrument.name, model.meta.instrument.detector) == (
            "Keck-I",
            "LIGER",
            "IMG",
        )
        assert model.meta.instrument.pixel_scale == 0.010


@pytest.mark.parametrize(
    "parameters",
    [
        {"instrument": "NIRCAM"},
        {"size": 16},
        {"n_exposures": 0},
        {"exposure_time": 0},
        {"gain": -1},
        {"program": "P/01"},
        {"pointing": (10.0, 95.0)},
    ],
)
def test_bad_parameters_raise(tmp_path, parameters):
    with pytest.raises(ValueError):
        simulate_observation(tmp_path, **{"size": 128, **parameters})


def test_cli_writes_and_prints_files(tmp_path, capsys):
    output_dir = tmp_path / "demo"
    status = main(["--instrument", "IRIS", "--size", "128", "--seed", "1", "--n-exposures", "2",
                   "--output-dir", str(output_dir)])
    assert status == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 * 3 + 5
    assert all(path.startswith(str(output_dir)) and (tmp_path / path).is_file() for path in printed)
    with datamodels.open(output_dir / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0002.fits") as model:
        assert model.meta.exposure.number == 2


@pytest.mark.parametrize(
    "arguments",
    [
        ["--size", "128"],  # no --output-dir
        ["--output-dir", "x", "--instrument", "NIRCAM"],
        ["--output-dir", "x", "--size", "-5"],
        ["--output-dir", "x", "--size", "16"],
        ["--output-dir", "x", "--exposure-time", "abc"],
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, monkeypatch, capsys, arguments):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


#: (name, xstart, ystart, xsize, ysize): one window at the first pixel, one touching the last column and row.
WINDOWS = (("A1", 1, 1, 16, 8), ("EDGE", 113, 121, 16, 8))
WINDOW_KEYWORDS = {f"meta.subarray.{key}" for key in ("name", "id", "xstart", "ystart", "xsize", "ysize")}


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    """Two 128 x 128 LIGER exposures, each also read in the WINDOWS."""
    return simulate_observation(
        tmp_path_factory.mktemp("windows"), instrument="LIGER", size=128, n_exposures=2, seed=3, n_stars=5,
        subarrays=WINDOWS,
    )


def test_subarray_frames_are_named_after_their_window(windowed):
    assert [[path.name for path in paths] for paths in windowed.subarrays] == [
        ["2027A-P001-001_Liger_IMG_A1_LVL1_0001.fits", "2027A-P001-001_Liger_IMG_EDGE_LVL1_0001.fits"],
        ["2027A-P001-001_Liger_IMG_A1_LVL1_0002.fits", "2027A-P001-001_Liger_IMG_EDGE_LVL1_0002.fits"],
    ]
    names = [path.name for path in windowed.all_paths()]
    assert names[3:5] == [path.name for path in windowed.subarrays[0]]  # after the exposure's raw, catalogue, truth
    assert all(path.is_file() for path in windowed.all_paths())


def test_full_frame_maps_every_window(windowed):
    for raw_path in windowed.raw:
        with datamodels.open(raw_path) as full:
            subarray = full.meta.subarray
            assert (subarray.name, subarray.id, subarray.detxsize, subarray.detysize) == ("FULL", 0, 128, 128)
            assert full.subarr_map.dtype == np.uint16
            expected = np.zeros((128, 128), np.uint16)
            expected[0:8, 0:16] = 1
            expected[120:128, 112:128] = 2
            np.testing.assert_array_equal(full.subarr_map, expected)


def test_subarray_frames_are_the_window_of_the_full_frame(windowed):
    for raw_path, subarray_paths in zip(windowed.raw, windowed.subarrays):
        full = read_arrays(raw_path)
        with datamodels.open(raw_path) as full_model:
            full_meta = flat_meta(full_model)
        for subarray_id, ((name, xstart, ystart, xsize, ysize), path) in enumerate(zip(WINDOWS, subarray_paths), 1):
            window = read_arrays(path)
            arrays = ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "DQ")
            assert window.keys() == set(arrays)
            for extension in arrays:
                np.testing.assert_array_equal(
                    window[extension], full[extension][ystart - 1 : ystart - 1 + ysize, xstart - 1 : xstart - 1 + xsize]
                )
            with datamodels.open(path) as model:
                subarray = model.meta.subarray
                assert (subarray.name, subarray.id) == (name, subarray_id)
                assert (subarray.xstart, subarray.ystart) == (xstart, ystart)
                assert (subarray.xsize, subarray.ysize) == (xsize, ysize)
                assert (subarray.detxsize, subarray.detysize) == (128, 128)
                meta = flat_meta(model)
            differing = {key for key in full_meta.keys() | meta.keys() if full_meta.get(key) != meta.get(key)}
            assert differing <= WINDOW_KEYWORDS | {"meta.date", "meta.filename"}  # same exposure otherwise


def flat_meta(model):
    return {key: value for key, value in model.to_flat_dict(include_arrays=False).items() if key.startswith("meta.")}


def test_without_subarrays_the_full_frame_has_no_map(observation):
    assert observation.subarrays == ((), (), ())
    with datamodels.open(observation.raw[0]) as model:
        assert model.subarr_map is None
        assert (model.meta.subarray.id, model.meta.subarray.detxsize) == (None, None)
    with fits.open(observation.raw[0]) as hdulist:
        assert "SUBARR_MAP" not in hdulist


@pytest.mark.parametrize(
    "subarrays, message",
    [
        ([("A", 0, 1, 8, 8)], "subarray A .* is not inside the 128 x 128 detector"),
        ([("A", 1, 1, 8, 0)], "subarray A .* is not inside"),
        ([("A", 121, 1, 9, 8)], "subarray A .* is not inside"),  # one column past the last
        ([("A", 1, 121, 8, 9)], "subarray A .* is not inside"),
        ([("A", 1, 1, 8, 8), ("B", 8, 8, 4, 4)], "subarrays A and B overlap"),  # share pixel (8, 8)
        ([("A", 1, 1, 8, 8), ("a", 20, 20, 4, 4)], "subarray name a is given twice"),
        ([("SUB-1", 1, 1, 8, 8)], "letters and digits"),
        ([("full", 1, 1, 8, 8)], "not FULL or SCI"),
        ([("SCI", 1, 1, 8, 8)], "not FULL or SCI"),
        ([("A", 1, 1, 8.5, 8)], "must be integers"),
        ([("A", 1, 1, 8)], r"a subarray is \(name, xstart, ystart, xsize, ysize\)"),
    ],
)
def test_bad_subarrays_raise(tmp_path, subarrays, message):
    with pytest.raises(ValueError, match=message):
        simulate_observation(tmp_path / "sim", size=128, subarrays=subarrays)
    assert not (tmp_path / "sim").exists()


def test_adjacent_subarrays_are_allowed(tmp_path):
    result = simulate_observation(tmp_path, size=128, n_stars=3, subarrays=[("A", 1, 1, 8, 8), ("B", 9, 1, 8, 8)])
    assert [path.name for path in result.subarrays[0]] == [
        "2027A-P001-001_IRIS_IMG1_A_LVL1_0001.fits",
        "2027A-P001-001_IRIS_IMG1_B_LVL1_0001.fits",
    ]


def test_cli_writes_subarray_frames(tmp_path, capsys):
    status = main(["--size", "128", "--output-dir", str(tmp_path), "--subarray", "A1,1,1,16,8",
                   "--subarray", "EDGE,113,121,16,8"])
    assert status == 0
    printed = [Path(path).name for path in capsys.readouterr().out.split()]
    assert printed[3:5] == [
        "2027A-P001-001_IRIS_IMG1_A1_LVL1_0001.fits",
        "2027A-P001-001_IRIS_IMG1_EDGE_LVL1_0001.fits",
    ]
    with datamodels.open(tmp_path / printed[4]) as model:
        assert (model.meta.subarray.name, model.meta.subarray.xstart, model.data.shape) == ("EDGE", 113, (8, 16))


@pytest.mark.parametrize(
    "value, message",
    [
        ("A,1,1,16", "expected NAME,XSTART,YSTART,XSIZE,YSIZE"),
        ("A,1,1,16,x", "expected NAME,XSTART,YSTART,XSIZE,YSIZE"),
        ("A,120,1,16,8", "subarray A .* is not inside"),
    ],
)
def test_cli_rejects_bad_subarrays(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--size", "128", "--output-dir", str(tmp_path / "sim"), "--subarray", value])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
