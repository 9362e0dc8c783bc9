"""Detector1 (ramp -> count-rate frame): against stcal on the same cubes and against the simulator's truth."""

import subprocess

import numpy as np
import pytest
from astropy.table import Table
from scipy.ndimage import minimum_filter
from stcal.jump.jump import detect_jumps_data
from stcal.jump.jump_class import JumpData
from stcal.ramp_fitting.ramp_fit import ramp_fit_data
from stcal.ramp_fitting.ramp_fit_class import RampData
from stcal.saturation.saturation import flag_saturated_pixels

from commands import command
from crds_helpers import crds_environment
from frames import simulated_reference_steps
from liger_iris_pipeline import (
    DarkCurrentStep, DQInitStep, Detector1Pipeline, FlatFieldStep, ProcessImagerL2Pipeline, RampFitStep, datamodels,
)
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.jump.twopoint_difference import find_jumps, flag_jump_neighbours
from liger_iris_pipeline.nonlinearity.linearity import correct_nonlinearity
from liger_iris_pipeline.ramp_fitting.ols_fit import fit_ramps
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.saturation.saturation import flag_saturation
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.ramp import RampReadout

FLAGS = datamodels.dqflags.pixel
DO_NOT_USE, SATURATED, JUMP = FLAGS["DO_NOT_USE"], FLAGS["SATURATED"], FLAGS["JUMP_DET"]
#: Bright stars so that pixels saturate in every group, many cosmic rays.
SCENE = {"n_stars": 40, "flux_range": (1.0e3, 2.0e6), "flux_power_index": 1.0}
READOUTS = {
    "UTR": RampReadout("UTR", ngroups=10, frame_time=10.0, cosmic_ray_fraction=0.01),
    "UTR-nframes2-nints2": RampReadout("UTR", ngroups=6, nframes=2, groupgap=1, frame_time=5.0, nints=2, cosmic_ray_fraction=0.01),
    "MCDS": RampReadout("MCDS", ngroups=2, nframes=4, groupgap=6, frame_time=5.0),
    "CDS": RampReadout("CDS", ngroups=2, frame_time=30.0),
}


def _simulate(directory, readout, size, seed=11):
    observation = simulate_observation(directory, size=size, readout=readout, seed=seed, **SCENE)
    references = {reftype: datamodels.open(path) for reftype, path in observation.ramp_references.items()}
    return observation, datamodels.open(observation.ramps[0]), references


@pytest.fixture(scope="module")
def utr(tmp_path_factory):
    """A 128 x 128 UTR ramp of 10 groups, its references and truth."""
    return _simulate(tmp_path_factory.mktemp("utr"), READOUTS["UTR"], 128)


def _overrides(observation):
    """Detector1Pipeline step parameters that give every reference of ``observation`` by hand."""
    refs = {"mask": observation.mask, **observation.ramp_references}
    readout = {"override_gain": str(refs["gain"]), "override_readnoise": str(refs["readnoise"])}
    return {
        "dq_init": {"override_mask": str(refs["mask"])},
        "saturation": {"override_saturation": str(refs["saturation"])},
        "nonlinearity": {"override_nonlinearity": str(refs["nonlinearity"])},
        "jump": readout,
        "ramp_fit": readout,
    }


@pytest.fixture(scope="module")
def utr_rate(utr):
    """The Detector1Pipeline result of the UTR ramp."""
    observation, _, _ = utr
    return Detector1Pipeline.call(str(observation.ramps[0]), steps=_overrides(observation))


#: jwst's Detector1 defaults of the options stcal shares with us, and the same options off.
JWST_DEFAULTS = {"n_pix_grow_sat": 1, "flag_4_neighbors": True, "suppress_one_group": True}
OPTIONS_OFF = {"n_pix_grow_sat": 0, "flag_4_neighbors": False, "suppress_one_group": False}
#: jwst's defaults of the jump step's neighbour thresholds (sigma).
NEIGHBOUR_THRESHOLDS = {"min_jump": 10.0, "max_jump": 1000.0}


def _stcal_jumps(ramp, data, groupdq, pixeldq, gain, readnoise, flag_4_neighbors):
    """stcal's two-point difference jump flags (no after-jump flagging) of the same cube."""
    jump_data = JumpData(gain2d=gain.copy(), rnoise2d=readnoise.copy(), dqflags=FLAGS)
    jump_data.init_arrays_from_arrays(data.copy(), groupdq.copy(), pixeldq.copy())
    jump_data.nframes = ramp.meta.exposure.nframes
    jump_data.dt_group = np.ones(1)
    jump_data.n_reads_groupdiff = np.full(1, 2.0 * ramp.meta.exposure.nframes)
    jump_data.flag_4_neighbors = flag_4_neighbors
    jump_data.min_jump_to_flag_neighbors = NEIGHBOUR_THRESHOLDS["min_jump"]
    jump_data.max_jump_to_flag_neighbors = NEIGHBOUR_THRESHOLDS["max_jump"]
    jump_data.max_cores = "1"
    return detect_jumps_data(jump_data)[0]


def _stcal_rate(ramp, data, groupdq, pixeldq, gain, readnoise, suppress_one_group):
    """stcal's OLS_C image products (slope, dq, err, var_poisson, var_rnoise) of the same cube."""
    exposure = ramp.meta.exposure
    ramp_data = RampData()
    ramp_data.set_arrays(data.copy(), groupdq.copy(), pixeldq.copy(), np.zeros(pixeldq.shape, np.float32))
    ramp_data.set_meta(
        name="IRIS", frame_time=exposure.frame_time, group_time=exposure.group_time, groupgap=exposure.groupgap,
        nframes=exposure.nframes,
    )
    ramp_data.set_dqflags(FLAGS)
    ramp_data.start_row, ramp_data.num_rows = 0, data.shape[2]
    ramp_data.suppress_one_group_ramps = suppress_one_group
    image, _, _ = ramp_fit_data(ramp_data, False, readnoise.copy(), gain.copy(), "OLS_C", "optimal", "1")
    return image


COMPARISONS = {
    **{f"{mode}-jwst-defaults": (mode, JWST_DEFAULTS) for mode in READOUTS},
    "UTR-options-off": ("UTR", OPTIONS_OFF),
    "CDS-options-off": ("CDS", OPTIONS_OFF),
}


@pytest.mark.science
@pytest.mark.parametrize(("mode", "options"), COMPARISONS.values(), ids=COMPARISONS)
def test_saturation_jumps_and_rates_match_stcal(mode, options, utr, tmp_path):
    """With the same options (saturation growth, jump neighbours, one-group suppression): the same saturated
    groups, the same jumps and (on clean pixels) rates to 1e-5, ERR, VAR_POISSON and VAR_RNOISE to 1e-3 as stcal."""
    observation, ramp, refs = utr if mode == "UTR" else _simulate(tmp_path, READOUTS[mode], 64)
    data, groupdq, pixeldq = ramp.data.copy(), ramp.groupdq.copy(), ramp.pixeldq.copy()
    gain, readnoise = refs["gain"].data, refs["readnoise"].data

    flag_saturation(data, groupdq, pixeldq, refs["saturation"].data, options["n_pix_grow_sat"])
    stcal_groupdq, *_ = flag_saturated_pixels(
        ramp.data.copy(), ramp.groupdq.copy(), ramp.pixeldq.copy(), refs["saturation"].data, refs["saturation"].dq,
        65535, FLAGS, n_pix_grow_sat=options["n_pix_grow_sat"],
    )
    assert np.array_equal(groupdq & SATURATED, stcal_groupdq & SATURATED)
    above_level = data >= refs["saturation"].data
    assert np.any(above_level)
    grown = (groupdq & SATURATED != 0) & ~np.maximum.accumulate(above_level, axis=1)
    assert np.any(grown) == (options["n_pix_grow_sat"] > 0)  # the growth flags pixels below the level

    correct_nonlinearity(data, groupdq, pixeldq, refs["nonlinearity"].coeffs, refs["nonlinearity"].dq)
    if ramp.meta.exposure.ngroups > 2:
        stcal_groupdq = _stcal_jumps(ramp, data, groupdq, pixeldq, gain, readnoise, options["flag_4_neighbors"])
        nframes = ramp.meta.exposure.nframes
        assert find_jumps(data, groupdq, gain, readnoise, nframes) > 10
        if options["flag_4_neighbors"]:
            jumps_before = np.count_nonzero(groupdq & JUMP)
            added = flag_jump_neighbours(data, groupdq, gain, readnoise, nframes, **NEIGHBOUR_THRESHOLDS)
            assert added > 10
            assert added == np.count_nonzero(groupdq & JUMP) - jumps_before  # each new flag counted once
        assert np.array_equal(groupdq & JUMP, stcal_groupdq & JUMP)

    fit = fit_ramps(
        data, groupdq, pixeldq, gain, readnoise, **_timing(ramp), suppress_one_group=options["suppress_one_group"]
    )
    one_good_group = (np.count_nonzero(groupdq == 0, axis=1) == 1).all(axis=0)  # in every integration
    if mode == "UTR":
        assert one_good_group.sum() >= 3  # stars saturating from the second group on
    rate_of_one_group = np.isfinite(fit.rate[one_good_group])
    assert np.all(~rate_of_one_group if options["suppress_one_group"] else rate_of_one_group)
    stcal = _stcal_rate(ramp, data, groupdq, pixeldq, gain, readnoise, options["suppress_one_group"])
    assert np.array_equal(fit.dq, stcal["dq"])
    assert np.array_equal(np.isnan(fit.rate), np.isnan(stcal["slope"]))
    clean = fit.dq == 0
    assert clean.sum() > 0.5 * clean.size
    np.testing.assert_allclose(fit.rate[clean], stcal["slope"][clean], rtol=1e-5, atol=1e-6)
    for name in ("err", "var_poisson", "var_rnoise"):
        np.testing.assert_allclose(getattr(fit, name)[clean], stcal[name][clean], rtol=1e-3)
    fitted = np.isfinite(fit.rate)
    np.testing.assert_allclose(fit.rate[fitted], stcal["slope"][fitted], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.err**2, fit.var_poisson + fit.var_rnoise, rtol=1e-5)


def _timing(ramp):
    exposure = ramp.meta.exposure
    return {"nframes": exposure.nframes, "frame_time": exposure.frame_time, "group_time": exposure.group_time}


@pytest.mark.science
def test_jump_neighbours_only_between_the_thresholds_and_only_on_usable_groups():
    """With gain 1, read noise 1 DN and a flat ramp, a jump of J DN in one group is J sigma: 8 (below the 10
    sigma minimum) and 2000 (above the 1000 maximum) flag no neighbour, 50 flags its four, but not a neighbour
    saturated in that group nor one beyond the frame's edge."""
    ny, nx, jump_group = 9, 9, 3
    data = np.zeros((1, 6, ny, nx), np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    for (y, x), size in {(2, 2): 8.0, (2, 6): 2000.0, (6, 4): 50.0, (0, 0): 50.0}.items():
        data[0, jump_group:, y, x] = size
        groupdq[0, jump_group, y, x] = JUMP
    groupdq[0, jump_group, 6, 5] = SATURATED
    expected = groupdq.copy()
    for y, x in ((5, 4), (7, 4), (6, 3), (1, 0), (0, 1)):
        expected[0, jump_group, y, x] |= JUMP

    added = flag_jump_neighbours(data, groupdq, np.ones((ny, nx)), np.ones((ny, nx)), 1, min_jump=10, max_jump=1000)

    assert added == 5
    assert np.array_equal(groupdq, expected)


def test_rates_match_truth(utr, utr_rate):
    """Fitted rates lie within 3 sigma of the true rate for more than 99% of the usable pixels."""
    observation, _, _ = utr
    truth = datamodels.open(observation.true_rates[0]).data
    usable = (utr_rate.dq & DO_NOT_USE) == 0
    pulls = (utr_rate.data[usable] - truth[usable]) / utr_rate.err[usable]
    assert usable.mean() > 0.9  # the bright stars' cores and the pixels around them (saturation growth) are not
    assert np.mean(np.abs(pulls) < 3) > 0.99
    assert abs(np.median(pulls)) < 0.05


@pytest.mark.science
def test_saturated_pixels(utr, utr_rate):
    """A pixel saturating from the fourth group on keeps a rate from its first groups; a pixel saturated in
    its first group is DO_NOT_USE | SATURATED without a rate."""
    observation, ramp, refs = utr
    truth = datamodels.open(observation.true_rates[0]).data
    exposure = ramp.meta.exposure
    # First group whose true measured signal reaches the saturation level (groups end at (g + 1) TGROUP).
    times = exposure.group_time * np.arange(1, exposure.ngroups + 1)[:, None, None]
    linear = truth * times
    b = (refs["nonlinearity"].coeffs[2]).astype(np.float64)  # c_2 = b: the curve M = L (1 - b L)
    first_saturated = np.argmax(linear * (1 - b * linear) >= 1.01 * refs["saturation"].data, axis=0)
    never = ~np.any(linear * (1 - b * linear) >= 0.99 * refs["saturation"].data, axis=0)
    # Saturation growth (one pixel) flags a pixel from the first saturated group of its 3 x 3 neighbourhood.
    neighbourhood_first = minimum_filter(np.where(never, exposure.ngroups, first_saturated), size=3, mode="nearest")
    late = (first_saturated >= 3) & (neighbourhood_first >= 3) & ~never & (utr_rate.dq & JUMP == 0)
    assert late.sum() >= 10
    assert np.all(utr_rate.dq[late] & SATURATED)
    assert not np.any(utr_rate.dq[late] & DO_NOT_USE)
    pulls = (utr_rate.data[late] - truth[late]) / utr_rate.err[late]
    assert np.mean(np.abs(pulls) < 3) > 0.95

    first = linear[0] * (1 - b * linear[0]) >= 1.01 * refs["saturation"].data
    assert first.sum() >= 5
    assert np.all(utr_rate.dq[first] & (DO_NOT_USE | SATURATED) == DO_NOT_USE | SATURATED)
    assert np.all(np.isnan(utr_rate.data[first]))


@pytest.mark.science
def test_cosmic_rays_are_found(utr, utr_rate, tmp_path):
    """Cosmic rays of the truth list on unsaturated ramps are flagged as jumps in the right group."""
    observation, ramp, refs = utr
    steps = _overrides(observation)
    ramp_steps = {name: steps[name] for name in ("dq_init", "saturation", "nonlinearity", "jump")}
    flagged = Detector1Pipeline.call(str(observation.ramps[0]), steps={**ramp_steps, "ramp_fit": {"skip": True}})
    hits = Table.read(observation.cosmic_rays[0])
    unsaturated = (flagged.groupdq[0, -1] & SATURATED) == 0
    bright = hits[(hits["dn"] > 500) & unsaturated[hits["y"], hits["x"]]]
    assert len(bright) > 20
    found = flagged.groupdq[bright["integration"], bright["group"], bright["y"], bright["x"]] & JUMP
    assert np.mean(found != 0) > 0.95
    assert np.all(utr_rate.dq[bright["y"], bright["x"]] & JUMP)


@pytest.mark.science
def test_nonlinearity_correction_is_linear(utr):
    """A noise-free ramp bent by the simulator's curve M = L (1 - b L) is linear to 0.1% after correction."""
    _, _, refs = utr
    coeffs = refs["nonlinearity"].coeffs
    b = coeffs[2].astype(np.float64)
    linear = np.linspace(100.0, 50000.0, 12)[None, :, None, None] * np.ones((1, 1, *b.shape))
    bent = (linear * (1 - b * linear)).astype(np.float32)
    assert np.max(np.abs(bent - linear) / linear) > 0.03  # the curve matters
    pixeldq = np.zeros(b.shape, np.uint32)
    correct_nonlinearity(bent, np.zeros(bent.shape, np.uint8), pixeldq, coeffs, refs["nonlinearity"].dq)
    assert np.max(np.abs(bent - linear) / linear) < 1e-3
    assert not np.any(pixeldq)


@pytest.mark.science
def test_raw_frame_enters_the_imager_chain(utr, utr_rate, tmp_path):
    """The Detector1 product is an L1 raw frame (DN/s, GAIN, status and references recorded) that the
    imager chain calibrates; flat-fielded and dark-subtracted it recovers the scene."""
    observation, ramp, _ = utr
    assert isinstance(utr_rate, datamodels.ImagerModel)
    assert utr_rate.meta.bunit_data == "DN/s"
    assert utr_rate.meta.exposure.gain == pytest.approx(2.0, rel=0.01)
    status = utr_rate.meta.cal_step
    assert (status.dq_init, status.saturation, status.nonlinearity, status.jump, status.ramp_fit) == ("COMPLETE",) * 5
    assert utr_rate.meta.ref_file.nonlinearity.name == observation.ramp_references["nonlinearity"].name
    raw = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL0_0001_raw.fits"
    utr_rate.save(raw)
    cal = ProcessImagerL2Pipeline.call(str(raw), steps=simulated_reference_steps(observation))
    scene = datamodels.open(observation.truth[0]).data
    usable = (cal.dq & DO_NOT_USE) == 0
    pulls = (cal.data[usable] - scene[usable]) / cal.err[usable]
    assert np.mean(np.abs(pulls) < 3) > 0.98


def test_dq_init_sets_pixeldq_of_a_ramp(utr):
    """DQInitStep on a ramp ORs the mask into PIXELDQ and leaves GROUPDQ clean (all groups are finite)."""
    observation, ramp, _ = utr
    result = DQInitStep.call(str(observation.ramps[0]), override_mask=str(observation.mask))
    mask = datamodels.open(observation.mask).dq
    assert np.array_equal(result.pixeldq, mask)
    assert not np.any(result.groupdq)
    assert result.meta.cal_step.dq_init == "COMPLETE"


def test_ramp_steps_reject_a_frame(utr):
    """A ramp step given a count-rate frame fails with one line naming the file."""
    observation, _, _ = utr
    with pytest.raises(StepInputError, match=r"SCI_LVL1_0001.fits: ramp_fit needs a ramp \(RampModel\), got ImagerModel"):
        RampFitStep.call(str(observation.raw[0]))


@pytest.mark.science
def test_crds_chooses_the_readout_references(utr, tmp_path):
    """With the references in a store (the new reftypes), `tmtrun detector1` takes CRDS's choice of each."""
    observation, _, _ = utr
    references = [observation.mask, *observation.ramp_references.values()]
    store = tmp_path / "store"
    assert add_references(store, references, "ramp references") == "ligeriri_0001.pmap"
    result = subprocess.run(
        [command("tmtrun"), "detector1", str(observation.ramps[0]), f"--output-dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=crds_environment(store),
    )
    assert result.returncode == 0, result.stderr
    with datamodels.open(tmp_path / f"{observation.ramps[0].stem}_raw.fits") as raw:
        chosen = {reftype: getattr(raw.meta.ref_file, reftype).name for reftype in ("mask", *observation.ramp_references)}
        assert chosen == {reftype: path.name for reftype, path in zip(("mask", *observation.ramp_references), references)}
        assert raw.meta.ref_file.crds.context_used == "ligeriri_0001.pmap"
        assert raw.meta.cal_step.ramp_fit == "COMPLETE"


def test_ramp_fit_rejects_a_cds_ramp_with_more_groups(utr, tmp_path):
    """READMODE CDS with 10 groups is inconsistent: one line naming the file."""
    observation, ramp, _ = utr
    bad = ramp.copy()
    bad.meta.exposure.readmode = "CDS"
    path = tmp_path / "bad_ramp.fits"
    bad.save(path)
    refs = observation.ramp_references
    with pytest.raises(StepInputError, match=r"bad_ramp.fits: READMODE CDS needs 2 groups, SCI has 10"):
        RampFitStep.call(str(path), override_gain=str(refs["gain"]), override_readnoise=str(refs["readnoise"]))


def test_vectorised_paths_give_the_per_pixel_results(utr):
    """The vectorised paths of jump detection and ramp fitting (unflagged pixels) give exactly what the
    per-pixel search and fit give for every pixel of a ramp with saturated stars and cosmic rays."""
    from liger_iris_pipeline.jump import twopoint_difference
    from liger_iris_pipeline.ramp_fitting import ols_fit

    _, ramp, refs = utr
    data, groupdq, pixeldq = ramp.data.copy(), ramp.groupdq.copy(), ramp.pixeldq.copy()
    gain, readnoise = refs["gain"].data, refs["readnoise"].data
    flag_saturation(data, groupdq, pixeldq, refs["saturation"].data)
    flagged_before_jumps = groupdq.copy()
    find_jumps(data, groupdq, gain, readnoise, ramp.meta.exposure.nframes)
    rate, err, dq, var_poisson, var_rnoise = fit_ramps(
        data, groupdq, pixeldq, gain, readnoise, **_timing(ramp), suppress_one_group=False
    )

    nints, ngroups, ny, nx = data.shape
    nframes, frame_time, group_time = _timing(ramp).values()
    thresholds = np.array([4.0, 5.0, 6.0])
    diffs, work = np.empty(nints * (ngroups - 1), np.float32), np.empty(nints * (ngroups - 1), np.float32)
    weights = ols_fit.weight_table(ngroups)
    scratch = (
        np.empty((nints, ngroups)), np.empty((nints, ngroups), np.uint8), np.empty(ngroups),
        np.empty(ngroups, np.int64), np.empty(ngroups, np.int64),
    )
    searched = flagged_before_jumps.copy()
    for y in range(ny):
        for x in range(nx):
            g = gain[y, x]
            read_variance = np.float64((readnoise[y, x] * g) ** 2) / nframes
            twopoint_difference._search_pixel(data, searched, y, x, g, read_variance, thresholds, diffs, work)
            noise = np.float64(np.float32(readnoise[y, x] * (np.float64(g) / np.sqrt(2.0 * nframes))))
            one = ols_fit._fit_pixel(
                data, groupdq, pixeldq, y, x, np.float64(g), noise, nframes, frame_time, group_time, weights, scratch
            )
            np.testing.assert_array_equal(
                np.array(one[:2] + one[3:], np.float32), [rate[y, x], err[y, x], var_poisson[y, x], var_rnoise[y, x]]
            )
            assert one[2] == dq[y, x]
    np.testing.assert_array_equal(searched, groupdq)
    assert np.any(groupdq & JUMP) and np.mean(dq == 0) > 0.5


def test_jump_search_of_equal_differences():
    """Differences that are all equal have that value as median: no jump, as in stcal; and once the one
    outlying difference is flagged, the equal ones left are not flagged."""
    data = np.zeros((1, 7, 1, 2), np.float32)
    data[0, :, 0, 0] = 100.0 * np.arange(7)  # differences 100, 100, ...
    data[0, :, 0, 1] = 100.0 * np.arange(7) + np.where(np.arange(7) >= 4, 5000.0, 0.0)  # one jump into group 4
    groupdq = np.zeros(data.shape, np.uint8)
    ones = np.ones((1, 2), np.float32)
    assert find_jumps(data, groupdq, ones, ones, 1) == 1
    assert not groupdq[0, :, 0, 0].any()
    np.testing.assert_array_equal(groupdq[0, :, 0, 1] & JUMP, [0, 0, 0, 0, JUMP, 0, 0])


@pytest.mark.science
def test_err_is_the_total_of_the_variances_after_every_step(utr, utr_rate):
    """ERR**2 = VAR_POISSON + VAR_RNOISE + VAR_FLAT after Detector1 and after each step of the imager chain; the
    flat's error appears in VAR_FLAT only once the flat has divided the frame, the dark's in VAR_RNOISE."""
    observation, _, _ = utr
    references = simulated_reference_steps(observation)

    def assert_err_is_the_total(frame):
        total = frame.var_poisson.astype(np.float64) + frame.var_rnoise + frame.var_flat
        np.testing.assert_allclose(frame.err.astype(np.float64) ** 2, total, rtol=2e-6, atol=1e-12)

    frame = utr_rate
    assert_err_is_the_total(frame)
    usable = (frame.dq & DO_NOT_USE) == 0
    assert np.all(frame.var_rnoise[usable] > 0) and np.mean(frame.var_poisson[usable] > 0) > 0.99  # 0 for a rate <= 0
    assert not frame.var_flat.any()
    rnoise_before = frame.var_rnoise.copy()
    for step_class, name in ((DQInitStep, "dq_init"), (DarkCurrentStep, "dark_current"), (FlatFieldStep, "flat_field")):
        frame = step_class.call(frame, **references[name])
        assert getattr(frame.meta.cal_step, name) == "COMPLETE"
        assert_err_is_the_total(frame)
        if name == "dark_current":
            dark_err = datamodels.open(observation.dark).err
            np.testing.assert_allclose(frame.var_rnoise, rnoise_before + dark_err**2, rtol=1e-6)
    flattened = (frame.dq & FLAGS["NO_FLAT_FIELD"]) == 0
    assert np.all(frame.var_flat[flattened & (frame.dq & DO_NOT_USE == 0) & (frame.data != 0)] > 0)
