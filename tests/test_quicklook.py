"""Quick-looks and QA numbers of calibrated frames, against the simulator's truth and astropy.wcs."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from PIL import Image
from scipy.spatial import cKDTree

from dithered import isolated
from ds9 import read_circles
from frames import make_frame, simulated_reference_steps
from liger_iris_pipeline import AssignWcsStep, ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.assign_wcs.imager_wcs import imaging_gwcs
from liger_iris_pipeline.quicklook import (
    benchmark_summary,
    night_summary,
    north_east_directions,
    quicklook_frame,
    render_quicklook,
    scale_bar_arcsec,
)
from liger_iris_pipeline.quicklook import skipped_steps, skipped_summary
from liger_iris_pipeline.quicklook.display import block_average, pixel_scale_arcsec
from liger_iris_pipeline.quicklook.frame import QA_COLUMNS
from liger_iris_pipeline.quicklook.summary import plot_against_time
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.simulate import tan_wcs

SIZE = 256
#: Stars closer than this many FWHM always merge into one detected source (closer than 1 FWHM they always do).
BLEND_FWHM = 3.0
CASES = {
    "IRIS": dict(instrument="IRIS", seed=11, pa_deg=0.0),
    "LIGER": dict(instrument="LIGER", seed=12, pa_deg=30.0, pointing=(210.8, 54.35)),
    # Drawn through a 20-pixel geometric distortion, reduced with its distortion reference (the truth).
    "IRIS-distorted": dict(instrument="IRIS", seed=13, distortion_pixels=20.0),
}


@pytest.fixture(scope="module", params=list(CASES))
def calibrated(request, tmp_path_factory):
    """A simulated 256x256 frame reduced to L2b, its quick-look, QA row and stars, and the simulation's truth."""
    directory = tmp_path_factory.mktemp(request.param)
    simulated = simulate_observation(directory / "raw", size=SIZE, **CASES[request.param])
    cal = ProcessImagerL2Pipeline.call(simulated.raw[0], steps=simulated_reference_steps(simulated))
    frame = directory / "frame_cal.fits"
    cal.save(frame)
    row = quicklook_frame(frame, directory / "frame_cal_quicklook.png", directory / "frame_cal_qa.ecsv",
                          catalog_path=simulated.catalogs[0], stars_path=directory / "frame_cal_stars.ecsv")
    return {"simulated": simulated, "frame": frame, "row": row, "directory": directory, "cal": cal,
            "catalog": Table.read(simulated.catalogs[0])}


def sky_noise_truth(calibrated):
    """Noise of a calibrated sky pixel from the truth: Poisson and read noise of F S + D, divided by F, plus
    the dark and flat reference errors (median over the frame's pixels)."""
    meta = calibrated["catalog"].meta
    gain, time, read_noise, sky = meta["gain"], meta["exposure_time"], meta["read_noise"], meta["sky_rate"]
    simulated = calibrated["simulated"]
    with datamodels.open(simulated.true_flat) as flat, datamodels.open(simulated.true_dark) as dark, \
            datamodels.open(simulated.dark) as dark_ref, datamodels.open(simulated.flat) as flat_ref:
        good = flat.data > 0
        f, d = flat.data[good], dark.data[good]
        variance = ((f * sky + d) / (gain * time) + (read_noise / time) ** 2 + dark_ref.err[good] ** 2) / f**2
        variance += (sky * flat_ref.err[good] / f) ** 2
    return float(np.median(np.sqrt(variance)))


@pytest.mark.science
def test_sky_level_and_noise_match_the_simulation(calibrated):
    row, meta = calibrated["row"], calibrated["catalog"].meta
    assert row["sky_level"] == pytest.approx(meta["sky_rate"], rel=2e-3)
    assert row["sky_noise"] == pytest.approx(sky_noise_truth(calibrated), rel=0.03)


@pytest.mark.science
def test_flagged_fraction_is_the_simulated_bad_pixels(calibrated):
    simulated = calibrated["simulated"]
    with datamodels.open(simulated.mask) as mask, datamodels.open(simulated.true_dark) as dark:
        bad = (mask.dq != 0) | (dark.dq != 0)
    assert calibrated["row"]["flagged_fraction"] == bad.sum() / bad.size


def blended_groups(x, y, link):
    """Number of groups of stars linked by separations below ``link`` pixels (friends of friends)."""
    group = list(range(len(x)))

    def root(i):
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if math.hypot(x[i] - x[j], y[i] - y[j]) < link:
                group[root(j)] = root(i)
    return len({root(i) for i in range(len(x))})


@pytest.mark.science
def test_star_count_and_fwhm_match_the_simulated_psf(calibrated):
    catalog, row = calibrated["catalog"], calibrated["row"]
    fwhm = catalog.meta["fwhm_pixels"]
    # Every star is found, blends aside, and nothing else is.
    resolved = blended_groups(catalog["x"], catalog["y"], BLEND_FWHM * fwhm)
    assert resolved <= row["n_stars"] <= blended_groups(catalog["x"], catalog["y"], fwhm)
    assert resolved >= len(catalog) / 2  # the frame is not one big blend
    assert row["n_fitted"] >= 0.8 * row["n_stars"]
    assert row["fwhm_pixels"] == pytest.approx(fwhm, rel=0.03)
    assert row["fwhm_arcsec"] == pytest.approx(fwhm * catalog.meta["pixel_scale"], rel=0.03)


@pytest.mark.science
def test_wcs_check_is_small_for_the_right_wcs_and_finds_a_shifted_one(calibrated):
    row, pixel_scale_mas = calibrated["row"], calibrated["catalog"].meta["pixel_scale"] * 1000
    assert row["n_matched"] == row["n_fitted"]
    assert row["wcs_offset_mas"] < 0.1 * pixel_scale_mas  # centroid errors of a tenth of a pixel

    shift_mas = 5 * pixel_scale_mas  # a pointing keyword off by 5 pixels to the north
    shifted = calibrated["cal"].copy()
    shifted.meta.pointing.dec += shift_mas / 3.6e6
    path = calibrated["directory"] / "shifted_cal.fits"
    AssignWcsStep.call(shifted, override_distortion=str(calibrated["simulated"].distortion or "N/A")).save(path)
    directory = calibrated["directory"]
    shifted_row = quicklook_frame(path, directory / "shifted.png", directory / "shifted_qa.ecsv",
                                  catalog_path=calibrated["simulated"].catalogs[0])
    assert shifted_row["n_matched"] == row["n_matched"]
    assert shifted_row["wcs_offset_mas"] == pytest.approx(shift_mas, abs=0.1 * pixel_scale_mas)


def test_quicklook_png_and_qa_row_are_written(calibrated):
    directory = calibrated["directory"]
    with Image.open(directory / "frame_cal_quicklook.png") as png:
        assert png.format == "PNG" and png.size == (700, 740)
    (written,) = Table.read(directory / "frame_cal_qa.ecsv", format="ascii.ecsv")
    assert written["frame"] == "frame_cal.fits"
    assert written["n_stars"] == calibrated["row"]["n_stars"]
    assert written["date_obs"] == "2027-05-01T08:00:00.000"


@pytest.mark.science
@pytest.mark.parametrize("pa_deg", [0.0, 30.0, 135.0, 270.0])
def test_compass_points_north_and_east_as_astropy_wcs_says(pa_deg):
    pointing, scale_arcsec, shape = (150.0, -30.0), 0.004, (64, 64)
    reference = tan_wcs(pointing, pa_deg, scale_arcsec, shape)  # the simulator's astropy.wcs
    crpix = ((shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0)
    gwcs = imaging_gwcs(crpix, pointing, scale_arcsec / 3600.0, pa_deg, shape)
    x, y = 20.0, 40.0
    centre = reference.pixel_to_world(x, y)
    for wcs in (reference, gwcs):
        north, east = north_east_directions(wcs, x, y)
        for direction, position_angle in ((north, 0.0), (east, 90.0)):
            # astropy: the pixel 10 pixels away from (x, y) along that position angle on the sky
            target = centre.directional_offset_by(position_angle * u.deg, 10 * scale_arcsec * u.arcsec)
            expected = np.array(reference.world_to_pixel(target)) - (x, y)
            np.testing.assert_allclose(direction, expected / 10.0, atol=1e-6)
        # PA is the angle of +Y east of north: north is (sin PA, cos PA), east (-cos PA, sin PA) on the detector
        pa = math.radians(pa_deg)
        np.testing.assert_allclose(north, (math.sin(pa), math.cos(pa)), atol=1e-6)
        np.testing.assert_allclose(east, (-math.cos(pa), math.sin(pa)), atol=1e-6)
        assert pixel_scale_arcsec(wcs, x, y) == pytest.approx(scale_arcsec, rel=1e-6)


def test_scale_bar_is_a_round_length_of_at_most_a_quarter_of_the_width():
    assert scale_bar_arcsec(1.024) == pytest.approx(0.2)  # 256 IRIS pixels
    assert scale_bar_arcsec(20.48) == pytest.approx(5.0)  # 2048 Liger pixels
    assert scale_bar_arcsec(16.384) == pytest.approx(2.0)  # 4096 IRIS pixels
    assert scale_bar_arcsec(0.4) == pytest.approx(0.1)


def test_block_average_ignores_flagged_pixels_and_flags_their_blocks():
    image = np.arange(36, dtype=float).reshape(6, 6)
    flagged = np.zeros((6, 6), bool)
    flagged[0, 0] = True
    flagged[3:6, 3:6] = True
    small, small_flagged, factor = block_average(image, flagged, max_size=2)
    assert factor == 3
    np.testing.assert_allclose(small[0, 0], (image[:3, :3].sum() - image[0, 0]) / 8)
    np.testing.assert_allclose(small[0, 1], image[:3, 3:].mean())
    assert np.isnan(small[1, 1])
    np.testing.assert_array_equal(small_flagged, [[True, False], [False, True]])


def test_night_summary_sorts_the_rows_by_time_and_plots_them(tmp_path):
    rows = []
    for index, (mjd, instrument) in enumerate([(61526.40, "IRIS"), (61526.30, "LIGER"), (61526.35, "IRIS")]):
        row = Table(
            {
                "frame": [f"f{index}_cal.fits"], "instrument": [instrument], "mjd": [mjd], "sky_level": [5.0 + index],
                "sky_noise": [0.2], "flagged_fraction": [1e-4], "n_stars": [10 * index], "fwhm_arcsec": [0.016],
                "wcs_offset_mas": [np.nan if index == 2 else 0.1],
            }
        )
        rows.append(tmp_path / f"f{index}_cal_qa.ecsv")
        row.write(rows[-1], format="ascii.ecsv")
    table = night_summary(rows, tmp_path / "night.csv", tmp_path / "night.png", tmp_path / "night.html")
    assert list(table["frame"]) == ["f1_cal.fits", "f2_cal.fits", "f0_cal.fits"]
    written = Table.read(tmp_path / "night.csv", format="ascii.csv")
    assert list(written["frame"]) == list(table["frame"]) and list(written["n_stars"]) == [10, 20, 0]
    html = (tmp_path / "night.html").read_text()
    assert html.index("f1_cal.fits") < html.index("f2_cal.fits") < html.index("f0_cal.fits")
    with Image.open(tmp_path / "night.png") as png:
        assert png.size == (1100, 700)


def test_benchmark_summary_tabulates_each_rule(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    jobs = {"flat_field/obs/a.tsv": (2.0, 100.0, 1.5), "flat_field/obs/b.tsv": (4.0, 300.0, 2.5),
            "crds_select.tsv": (1.0, "-", 0.5)}
    for name, (wall, rss, cpu) in jobs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(header + f"{wall}\t0:00:0{int(wall)}\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    table = benchmark_summary(sorted(tmp_path.rglob("*.tsv")), tmp_path, tmp_path / "benchmarks.html")
    assert list(table["rule"]) == ["crds_select", "flat_field"]
    flat = table[1]
    assert (flat["jobs"], flat["total_wall_s"], flat["median_wall_s"], flat["max_wall_s"]) == (2, 6.0, 3.0, 4.0)
    assert (flat["max_rss_mb"], flat["total_cpu_s"]) == (300.0, 4.0)
    assert np.isnan(table[0]["max_rss_mb"])
    assert "<td>flat_field</td>" in (tmp_path / "benchmarks.html").read_text()


def test_a_frame_without_wcs_is_a_clear_error(tmp_path, calibrated):
    no_wcs = calibrated["cal"].copy()
    no_wcs.meta.wcs = None
    path = tmp_path / "nowcs_cal.fits"
    no_wcs.save(path)
    with pytest.raises(ValueError, match="nowcs_cal.fits: no WCS"):
        quicklook_frame(path, tmp_path / "x.png", tmp_path / "x.ecsv", stars_path=tmp_path / "x_stars.ecsv")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["nowcs_cal.fits"]


@pytest.mark.parametrize("stretch", ["zscale", "asinh"])
def test_render_draws_both_stretches_and_refuses_others(tmp_path, stretch):
    shape = (300, 200)
    gwcs = imaging_gwcs((100.5, 150.5), (150.0, 2.0), 0.01 / 3600.0, 90.0, shape)
    image = np.random.default_rng(1).normal(5.0, 0.2, shape)
    flagged = np.zeros(shape, bool)
    flagged[10, 20] = True
    drawn = render_quicklook(tmp_path / "a.png", image, flagged, gwcs, "title", stretch=stretch, max_size=128)
    assert drawn["factor"] == 3 and drawn["bar_arcsec"] == pytest.approx(0.2)  # a quarter of 198 pixels is 0.495"
    np.testing.assert_allclose(drawn["north"], (1.0, 0.0), atol=1e-6)  # PA 90: north along +x
    with Image.open(tmp_path / "a.png") as png:
        assert png.format == "PNG"
    with pytest.raises(ValueError, match="stretch must be one of zscale, asinh"):
        render_quicklook(tmp_path / "b.png", image, flagged, gwcs, "title", stretch="log")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png"]


#: The QA row's columns before skipped steps were reported: kept, in order, ahead of the new ones.
QA_COLUMNS_BEFORE_SKIPS = (
    "frame", "instrument", "filter", "target", "exposure", "exposure_time", "date_obs", "mjd", "bunit",
    "pixel_scale_arcsec", "sky_level", "sky_noise", "flagged_fraction", "n_stars", "fwhm_pixels", "fwhm_arcsec",
    "n_fitted", "n_matched", "wcs_offset_mas",
)


@pytest.fixture(scope="module")
def sky_field(tmp_path_factory):
    """A 64x64 IRIS frame with two sky exposures, drawn through a geometric distortion, and its references."""
    return simulate_observation(
        tmp_path_factory.mktemp("skipped"), instrument="IRIS", size=64, seed=5, n_sky=2, distortion_pixels=1.0
    )


@pytest.mark.parametrize(
    "case, expected",
    [
        ("all-applied", ("", "")),
        ("flat-not-applicable", ("flat_field", "flat_field: no flat reference applies (N/A)")),
        ("distortion-not-applicable", ("distortion", "distortion: no distortion reference applies (N/A)")),
        ("dark-skip-parameter", ("dark_current", "dark_current: skip parameter set")),
        (
            "background-subtracted",
            ("dark_current", "dark_current: background exposures subtracted, and with them the dark current"),
        ),
        (
            "flat-and-dq-init",
            ("dq_init; flat_field", "dq_init: skip parameter set; flat_field: no flat reference applies (N/A)"),
        ),
    ],
)
def test_the_qa_row_says_which_steps_were_skipped_and_why(sky_field, tmp_path, case, expected):
    steps = simulated_reference_steps(sky_field)
    backgrounds = []
    if case in ("flat-not-applicable", "flat-and-dq-init"):
        steps["flat_field"]["override_flat"] = "N/A"
    if case == "flat-and-dq-init":
        steps["dq_init"]["skip"] = True
    if case == "distortion-not-applicable":
        steps["assign_wcs"]["override_distortion"] = "N/A"
    if case == "dark-skip-parameter":
        steps["dark_current"]["skip"] = True
    if case == "background-subtracted":
        backgrounds = [[str(path) for path in sky_field.sky]]
    cal = ProcessImagerL2Pipeline.call(sky_field.raw[0], *backgrounds, steps=steps)
    frame = tmp_path / "frame_cal.fits"
    cal.save(frame)
    row = quicklook_frame(frame, tmp_path / "frame.png", tmp_path / "frame_qa.ecsv")
    with datamodels.open(frame) as saved:  # the reasons come from the product's own keywords
        statuses = saved.meta.cal_step.instance
        assert [step for step, status in statuses.items() if status == "SKIPPED"] == [
            step for step in expected[0].split("; ") if step
        ]
    assert (row["skipped_steps"], row["skip_reasons"]) == expected
    (written,) = Table.read(tmp_path / "frame_qa.ecsv", format="ascii.ecsv")
    assert tuple(written.colnames) == QA_COLUMNS == QA_COLUMNS_BEFORE_SKIPS + ("skipped_steps", "skip_reasons", "subarray")
    assert (texts([written["skipped_steps"]]), texts([written["skip_reasons"]])) == ([expected[0]], [expected[1]])


def texts(values):
    """String values as read back from ECSV or CSV, where an empty string is a masked value."""
    return ["" if value is np.ma.masked else str(value) for value in values]


def test_skipped_steps_name_the_context_under_which_crds_found_no_reference():
    cal = datamodels.ImagerModel(np.zeros((4, 4), np.float32))
    cal.meta.cal_step.dq_init = "COMPLETE"
    cal.meta.cal_step.flat_field = "SKIPPED"
    cal.meta.ref_file.mask.name = "IRIS_IMG1_MASK_20200101T000000_1.fits"
    cal.meta.ref_file.flat.name = "N/A"
    cal.meta.ref_file.crds.context_used = "ligeriri_0003.pmap"
    assert skipped_steps(cal.meta) == [
        ("flat_field", "no flat reference applies (N/A under ligeriri_0003.pmap)")
    ]


def qa_rows(directory, skips):
    """One-row QA tables, as quicklook_frame writes them, of frames at successive times; ``skips``: each
    frame's (skipped_steps, skip_reasons)."""
    paths = []
    for index, (steps, reasons) in enumerate(skips):
        row = {name: [0.0] for name in QA_COLUMNS}
        row.update(
            frame=[f"f{index}_cal.fits"], instrument=["IRIS"], filter=["Ks"], target=["t"], date_obs=["d"], bunit=["DN/s"],
            mjd=[61526.3 + index / 100], sky_level=[5.0 + index], n_stars=[10 + index], skipped_steps=[steps],
            skip_reasons=[reasons],
        )
        paths.append(directory / f"f{index}_cal_qa.ecsv")
        Table(row).write(paths[-1], format="ascii.ecsv")
    return paths


def test_night_summary_highlights_the_frames_that_skipped_steps(tmp_path):
    reason = "flat_field: no flat reference applies (N/A under ligeriri_0003.pmap)"
    skips = [("", ""), ("flat_field", reason), ("", ""), ("flat_field; dark_current", f"{reason}; dark_current: x")]
    paths = qa_rows(tmp_path, skips)
    table = night_summary(paths, tmp_path / "night.csv", tmp_path / "night.png", tmp_path / "night.html")

    written = Table.read(tmp_path / "night.csv", format="ascii.csv")
    assert texts(written["skipped_steps"]) == [steps for steps, _ in skips]
    assert texts(written["skip_reasons"]) == [reasons for _, reasons in skips]
    html = (tmp_path / "night.html").read_text()
    rows = html.split("<tbody>")[1].split("</tr>")[:-1]
    assert [' class="skipped"' in row for row in rows] == [False, True, False, True]
    assert [f"f{index}_cal.fits" in row for index, row in enumerate(rows)] == [True] * 4
    assert "2 of 4 frames skipped calibration steps (dark_current in 1, flat_field in 2)" in html
    assert skipped_summary(table, "results/night_summary.html") == (
        "warning: 2 of 4 frames skipped calibration steps (dark_current in 1, flat_field in 2): "
        "see results/night_summary.html"
    )
    # Every panel circles the frames that skipped steps: its "steps skipped" points are theirs.
    figure = plot_against_time(table)
    for axes, column in zip(figure.axes, ("sky_level", "sky_noise", "flagged_fraction", "n_stars")):
        (circled,) = [line for line in axes.get_lines() if line.get_label() == "steps skipped"]
        np.testing.assert_array_equal(circled.get_ydata(), np.asarray(table[column], float)[[1, 3]])
    assert "2 with calibration steps skipped" in figure.get_suptitle()


def test_night_summary_without_skipped_steps_says_nothing_of_them(tmp_path):
    paths = qa_rows(tmp_path, [("", ""), ("", "")])
    table = night_summary(paths, tmp_path / "night.csv", tmp_path / "night.png", tmp_path / "night.html")
    assert skipped_summary(table, "night_summary.html") is None
    assert 'class="skipped"' not in (tmp_path / "night.html").read_text().split("<tbody>")[1]
    assert not any(line.get_label() == "steps skipped" for axes in plot_against_time(table).axes for line in axes.get_lines())


def test_night_summary_has_one_row_per_exposure_with_its_subarrays_and_rounded_numbers(tmp_path):
    """Exposure 1 has a full frame, a GUIDE window and their _merged product (one readout: the same start time);
    exposure 2 a full frame only; exposure 3 a window listed before its full frame, not merged. The summary keeps
    the merged row of 1, marked GUIDE, the row of 2, and the full frame's row of 3, marked GUIDE."""
    frames = [
        ("x_SCI_LVL1_0001_cal.fits", 1, "FULL", 61526.3),
        ("x_GUIDE_LVL1_0001_cal.fits", 1, "GUIDE", 61526.3),
        ("x_SCI_LVL1_0001_merged.fits", 1, "FULL", 61526.3),
        ("x_SCI_LVL1_0002_cal.fits", 2, "FULL", 61526.31234567891),
        ("x_GUIDE_LVL1_0003_cal.fits", 3, "GUIDE", 61526.32),  # not merged: the full frame's row is kept
        ("x_SCI_LVL1_0003_cal.fits", 3, "FULL", 61526.32),
    ]
    paths = []
    for index, (frame, exposure, subarray, mjd) in enumerate(frames):
        row = {name: [0.0] for name in QA_COLUMNS}
        row.update(frame=[frame], instrument=["IRIS"], filter=["Ks"], target=["t"], date_obs=["d"], bunit=["DN/s"],
                   exposure=[exposure], subarray=[subarray], mjd=[mjd], sky_level=[5.123456789 + index],
                   skipped_steps=[""], skip_reasons=[""])
        paths.append(tmp_path / f"{index}_qa.ecsv")
        Table(row).write(paths[-1], format="ascii.ecsv")
    table = night_summary(paths, tmp_path / "night.csv", tmp_path / "night.png", tmp_path / "night.html")
    assert list(table["frame"]) == ["x_SCI_LVL1_0001_merged.fits", "x_SCI_LVL1_0002_cal.fits", "x_SCI_LVL1_0003_cal.fits"]
    assert list(table["subarrays"]) == ["GUIDE", "", "GUIDE"]
    text = (tmp_path / "night.csv").read_text()
    assert "7.12346" in text and "61526.312346" in text and "5.123456789" not in text


# The stars of the quick-look: <exposure>_<product>_stars.ecsv and its DS9 regions, against the simulation's truth.
STAR_COLUMNS = ["id", "x", "y", "ra", "dec", "flux", "peak", "fwhm", "fitted"]


def read_stars(case):
    """The stars table of a ``calibrated`` case."""
    return Table.read(case["directory"] / "frame_cal_stars.ecsv", format="ascii.ecsv")


def isolated_matches(stars, truth, reach):
    """(indices of stars, of their true stars) of the stars whose nearest true star lies within 1 pixel and has no
    other true star within ``reach`` pixels (blends measure neither star)."""
    distance, nearest = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(np.column_stack([stars["x"], stars["y"]]))
    keep = (distance < 1.0) & isolated(truth["x"], truth["y"], reach)[nearest]
    return np.flatnonzero(keep), nearest[keep]


@pytest.mark.science
def test_stars_are_the_counted_stars_at_their_true_positions_on_the_detector_and_sky(calibrated):
    stars, truth, row = read_stars(calibrated), calibrated["catalog"], calibrated["row"]
    scale, fwhm = truth.meta["pixel_scale"], truth.meta["fwhm_pixels"]
    assert stars.colnames == STAR_COLUMNS and list(stars["id"]) == list(range(1, len(stars) + 1))
    # The stars the QA row counted, fitted and measured the FWHM of.
    assert len(stars) == row["n_stars"] and stars["fitted"].sum() == row["n_fitted"]
    assert np.median(stars["fwhm"][stars["fitted"]]) == pytest.approx(row["fwhm_pixels"], rel=1e-12)
    assert np.all(np.diff(stars["flux"]) <= 0)  # brightest first

    mine, true = isolated_matches(stars, truth, BLEND_FWHM * fwhm)
    # Every isolated true star, once.
    assert sorted(true) == list(np.flatnonzero(isolated(truth["x"], truth["y"], BLEND_FWHM * fwhm))) and len(true) >= 5
    # x/y: 0-based detector pixels, where the simulator drew the stars (through the distortion, if any).
    offset_pixels = np.hypot(stars["x"][mine] - truth["x"][true], stars["y"][mine] - truth["y"][true])
    # RA/Dec: through the frame's gWCS; the same error on the sky, in pixels of the frame's plate scale.
    measured = SkyCoord(stars["ra"][mine], stars["dec"][mine], unit="deg")
    separation_pixels = measured.separation(SkyCoord(truth["ra"][true], truth["dec"][true], unit="deg")).arcsec / scale
    for error in (offset_pixels, separation_pixels):
        assert np.median(error) < 0.1 and error.max() < 0.25, error
    # The WCS adds no error of its own: the same offsets, but where a distortion makes the local plate scale differ
    # from the nominal one by a few per cent.
    distorted = "x_ideal" in truth.colnames
    np.testing.assert_allclose(separation_pixels, offset_pixels, rtol=0.06 if distorted else 0.0, atol=1e-6)
    if distorted:  # the distortion moved the stars pixels away from where a TAN-only WCS would put them
        assert np.median(np.hypot(truth["x"][true] - truth["x_ideal"][true], truth["y"][true] - truth["y_ideal"][true])) > 1.0

    # Fluxes: isophotal sums, which miss the PSF's faint wings: a few per cent low for bright isolated stars.
    bright = truth["flux"][true] > 100.0
    assert bright.sum() >= 3
    ratio = stars["flux"][mine][bright] / truth["flux"][true][bright]
    assert np.all((ratio > 0.9) & (ratio < 1.02)), ratio
    # Peaks: the highest pixel of the noise-free scene near the star, within the noise of a pixel.
    with datamodels.open(calibrated["simulated"].truth[0]) as scene:
        rate = np.asarray(scene.data, float) - truth.meta["sky_rate"]
    x, y = (np.rint(truth[axis][true][bright]).astype(int) for axis in ("x", "y"))
    true_peaks = np.array([rate[j - 1 : j + 2, i - 1 : i + 2].max() for i, j in zip(x, y)])
    noise = np.hypot(row["sky_noise"], np.sqrt(true_peaks / (truth.meta["gain"] * truth.meta["exposure_time"])))
    assert np.all(np.abs(stars["peak"][mine][bright] - true_peaks) < 5 * noise)


def test_stars_table_says_its_units_coordinates_frame_and_wcs(calibrated):
    stars = read_stars(calibrated)
    meta = stars.meta
    assert (stars["x"].unit, stars["y"].unit, stars["fwhm"].unit) == (u.pix,) * 3
    assert (stars["ra"].unit, stars["dec"].unit) == (u.deg, u.deg)
    assert stars["flux"].unit == stars["peak"].unit == u.Unit("DN/s")
    assert "0-based" in stars["x"].description and "0-based" in meta["pixel_coordinates"]
    assert "ICRS" in stars["ra"].description
    assert (meta["frame"], meta["bunit"], meta["subarray"]) == ("frame_cal.fits", "DN/s", "FULL")
    assert (meta["nsigma"], meta["npixels"], meta["kernel_fwhm_pixels"], meta["max_fitted"]) == (5.0, 5, 3.0, 100)
    assert meta["sky_noise"] == pytest.approx(calibrated["row"]["sky_noise"])
    distortion = calibrated["simulated"].distortion
    if distortion:
        assert meta["wcs"].endswith(f"through the geometric distortion {distortion.name}")
    else:
        assert "TAN projection only" in meta["wcs"]


def test_region_file_has_a_circle_of_one_fwhm_at_every_star(calibrated):
    stars, truth = read_stars(calibrated), calibrated["catalog"]
    system, values = read_circles(calibrated["directory"] / "frame_cal_stars.reg")
    assert system == "icrs" and len(values) == len(stars) > 0
    np.testing.assert_array_equal(values[:, 3], stars["id"])
    np.testing.assert_allclose(values[:, 0], stars["ra"], atol=1e-9)
    np.testing.assert_allclose(values[:, 1], stars["dec"], atol=1e-9)
    radius_arcsec = calibrated["row"]["fwhm_pixels"] * truth.meta["pixel_scale"]
    np.testing.assert_allclose(values[:, 2], radius_arcsec, rtol=1e-4)


def test_a_frame_without_stars_gives_an_empty_catalogue_and_region_file(tmp_path):
    shape = (64, 64)
    sky = 5.0 + 0.2 * np.random.default_rng(3).standard_normal(shape)
    frame = AssignWcsStep.call(make_frame(sky, err=np.full(shape, 0.2)), override_distortion="N/A")
    frame.save(tmp_path / "empty_cal.fits")
    row = quicklook_frame(tmp_path / "empty_cal.fits", tmp_path / "empty.png", tmp_path / "empty_qa.ecsv",
                          stars_path=tmp_path / "empty_stars.ecsv", regions_path=tmp_path / "empty_stars.reg")
    stars = Table.read(tmp_path / "empty_stars.ecsv", format="ascii.ecsv")
    assert row["n_stars"] == len(stars) == 0
    assert stars.colnames == STAR_COLUMNS and (stars["ra"].unit, stars["x"].unit) == (u.deg, u.pix)
    assert stars["fitted"].dtype == bool and stars["id"].dtype.kind == "i"
    system, circles = read_circles(tmp_path / "empty_stars.reg")
    assert system == "icrs" and circles.shape == (0, 4)


def test_stars_and_regions_are_written_both_or_neither(calibrated, tmp_path):
    """A region file that cannot be written (its directory is missing) leaves no catalogue either."""
    with pytest.raises(FileNotFoundError):
        quicklook_frame(calibrated["frame"], tmp_path / "f.png", tmp_path / "f_qa.ecsv",
                        stars_path=tmp_path / "f_stars.ecsv", regions_path=tmp_path / "missing" / "f_stars.reg")
    assert not (tmp_path / "f_stars.ecsv").exists() and not list(tmp_path.glob(".*part*"))
