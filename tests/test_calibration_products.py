"""Master dark and flat from simulated exposures, and NormalizeStep, checked against the simulator's truth
and hand-computed arrays."""

import numpy as np
import pytest

from frames import SHAPE, make_frame
from liger_iris_pipeline import MasterDarkStep, NormalizeStep, ProcessFlatfieldL2Pipeline, datamodels
from liger_iris_pipeline.normalize.normalize import half_sample_mode
from liger_iris_pipeline.reference_names import reference_file_name
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.science

FLAGS = datamodels.dqflags.pixel
GAIN, READ_NOISE, EXPOSURE_TIME = 2.0, 3.0, 60.0
N_EXPOSURES = 5


def rate_noise(rate):
    """1-sigma noise of one simulated count-rate frame of the true ``rate`` (the simulator's noise model)."""
    return np.sqrt(rate / (GAIN * EXPOSURE_TIME) + (READ_NOISE / EXPOSURE_TIME) ** 2)


@pytest.fixture(scope="module")
def darks(tmp_path_factory):
    """Five 256x256 darks of a detector with many hot and warm pixels, so completeness is measurable."""
    return simulate_observation(
        tmp_path_factory.mktemp("darks"), instrument="LIGER", size=256, seed=11, n_darks=N_EXPOSURES,
        bad_pixels_per_megapixel={"hot": 10_000, "warm": 20_000},
    )


def test_master_dark_recovers_the_true_rate_and_hot_pixels(darks, tmp_path):
    dark = MasterDarkStep.call(list(map(str, darks.darks)), method="mean")
    with datamodels.open(darks.true_dark) as truth:
        true_rate, true_dq = truth.data.astype(np.float64), truth.dq
    sigma = rate_noise(true_rate)  # per exposure
    residual = dark.data - true_rate
    # Every pixel within 3 sigma / sqrt(N) of the truth, but for the Gaussian tails (0.27 %).
    assert np.mean(np.abs(residual) > 3 * sigma / np.sqrt(N_EXPOSURES)) < 0.005
    # The frame's mean rate within 3 sigma / sqrt(N) of the truth's, sigma being the noise of a frame's mean.
    sigma_mean = np.sqrt(np.mean(sigma**2) / residual.size)
    assert abs(residual.mean()) < 3 * sigma_mean / np.sqrt(N_EXPOSURES)
    # ERR from the scatter has the size of the actual error.
    assert np.sqrt(np.mean(dark.err.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(residual**2)), rel=0.05)

    true_hot = (true_dq & FLAGS["HOT"]) > 0
    found_hot = (dark.dq & FLAGS["HOT"]) > 0
    assert true_hot.sum() > 500
    assert (found_hot & true_hot).sum() / true_hot.sum() > 0.99
    assert (found_hot & ~true_hot).sum() / (~true_hot).sum() < 0.001
    true_warm = (true_dq & FLAGS["WARM"]) > 0
    assert ((dark.dq & FLAGS["WARM"]) > 0)[true_warm].mean() > 0.98

    # A valid dark reference: the store accepts it, named by the convention, USEAFTER the first dark's start.
    assert dark.meta.useafter == "2027-05-01T04:00:00"
    assert dark.meta.exposure.readmode == "ROP"
    assert dark.meta.cal_step.master_dark == "COMPLETE"
    path = tmp_path / reference_file_name(dark)
    assert path.name == "Liger_IMG_DARK_20270501T040000_1.fits"
    dark.save(path)
    assert add_references(tmp_path / "store", [path]) == "ligeriri_0001.pmap"


@pytest.mark.parametrize("flat_type", ["dome", "twilight"])
def test_flat_from_exposures_is_within_photon_noise_of_the_truth(tmp_path, flat_type):
    rate = 3000.0
    sim = simulate_observation(
        tmp_path, instrument="LIGER", size=128, seed=12, n_flats=N_EXPOSURES, flat_type=flat_type, flat_rate=rate
    )
    flat = ProcessFlatfieldL2Pipeline.call(
        list(map(str, sim.flats)), steps={"dark_current": {"override_dark": str(sim.dark)}}
    )
    with datamodels.open(sim.true_flat) as truth:
        true_flat = truth.data.astype(np.float64)
    levels = rate * (0.7 ** np.arange(N_EXPOSURES) if flat_type == "twilight" else np.ones(N_EXPOSURES))
    # Expected error of the median of the normalised exposures: sqrt(pi/2) x the noise of their mean.
    per_exposure_variance = [rate_noise(true_flat * level) ** 2 / level**2 for level in levels]
    expected = np.sqrt(np.pi / 2 * np.sum(per_exposure_variance, axis=0)) / N_EXPOSURES
    responsive = true_flat > 0.1
    error = flat.data - true_flat
    assert np.sqrt(np.mean(error[responsive] ** 2)) < 1.05 * np.sqrt(np.mean(expected[responsive] ** 2))
    assert np.mean(flat.data[flat.dq == 0]) == pytest.approx(1.0, abs=1e-3)
    # Dead pixels have no response: NO_FLAT_FIELD, and nothing else is.
    no_flat = (flat.dq & FLAGS["NO_FLAT_FIELD"]) > 0
    np.testing.assert_array_equal(no_flat, ~responsive)
    assert flat.meta.instrument.filter == "Ks"
    assert flat.meta.useafter == "2027-05-01T06:00:00"
    assert reference_file_name(flat) == "Liger_IMG_FLAT_20270501T060000_1.fits"


def test_normalize_divides_by_mean_median_and_mode_of_good_pixels():
    # 48 pixels: 20 at 4.0, 27 spread from 4.5 to 17.5, and one DQ-flagged 1000 that must not count.
    sci = np.full(SHAPE, 4.0, np.float32)
    sci.flat[20:47] = 4.0 + 0.5 * np.arange(1, 28)
    sci.flat[47] = 1000.0
    dq = np.zeros(SHAPE, np.uint32)
    dq.flat[47] = FLAGS["HOT"]
    # By hand: mean (20 x 4 + 27 x 4 + 0.5 x 378) / 47; median the 24th of 47 sorted values, 4 + 0.5 x 4;
    # mode 4 (the densest half: the twenty 4.0 and the next four).
    expected = {"mean": 377 / 47, "median": 6.0, "mode": 4.0}
    for method, level in expected.items():
        result = NormalizeStep.call(make_frame(sci, err=np.full(SHAPE, 2.0), dq=dq), method=method)
        np.testing.assert_allclose(result.data, sci / level, rtol=1e-6)
        np.testing.assert_allclose(result.err, 2.0 / level, rtol=1e-6)
        assert result.meta.cal_step.normalize == "COMPLETE"


def test_half_sample_mode_finds_the_peak_of_a_skewed_distribution():
    # Gamma(k=4, theta=1): mode (k - 1) theta = 3, median 3.67, mean 4.
    values = np.random.default_rng(5).gamma(4.0, 1.0, 200_000)
    assert half_sample_mode(values) == pytest.approx(3.0, abs=0.15)
    # A narrow peak at 1 on a broad pedestal: the mode is the peak.
    mixture = np.concatenate([np.random.default_rng(6).normal(1.0, 0.01, 50_000), np.linspace(0.0, 10.0, 50_000)])
    assert half_sample_mode(mixture) == pytest.approx(1.0, abs=0.005)


def test_exposures_that_do_not_belong_together_are_named(tmp_path):
    from liger_iris_pipeline.base_step import StepInputError

    first = make_frame(np.ones(SHAPE), err=np.ones(SHAPE))
    first.meta.exposure.readmode = "ROP"
    first.meta.filename = "dark_1.fits"
    second = make_frame(np.ones(SHAPE), err=np.ones(SHAPE))
    second.meta.exposure.readmode = "CDS"
    second.meta.filename = "dark_2.fits"
    with pytest.raises(StepInputError, match="dark_2.fits: READMODE 'CDS' differs from dark_1.fits 'ROP'"):
        MasterDarkStep.call([first, second])


def test_tmtrun_flat_pipeline_on_one_file_is_a_one_line_error(tmp_path):
    import subprocess

    from commands import assert_one_line_error, command

    frame = tmp_path / "flat_1.fits"
    make_frame(np.ones(SHAPE), err=np.ones(SHAPE)).save(frame)
    result = subprocess.run([command("tmtrun"), "process_flatfield_l2", str(frame)], capture_output=True, text=True)
    assert_one_line_error(result, "tmtrun", "flat_1.fits", "process_flatfield_l2 takes an association (or a list) of exposures")


def test_tmtrun_master_dark_on_an_association_writes_the_named_reference(darks, tmp_path):
    import json
    import subprocess

    from commands import command

    directory = darks.darks[0].parent
    members = [{"expname": path.name, "exptype": "science"} for path in darks.darks]
    asn = directory / "darks_asn.json"
    asn.write_text(json.dumps({"asn_type": "dark", "products": [{"name": "darks", "members": members}]}))
    out = tmp_path / "out"
    result = subprocess.run([command("tmtrun"), "master_dark", str(asn), f"--output-dir={out}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in out.iterdir()] == ["Liger_IMG_DARK_20270501T040000_1.fits"]
