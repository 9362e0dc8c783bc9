"""The workflow on an observation given as ramps: detector1 makes each raw frame, then the imager chain."""


import numpy as np
import pytest

from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.ramp import RampReadout
from test_workflow import STEPS, chain, executed_jobs, frame_products, looks, planned_jobs, snakemake
from workflow_copy import copy_workflow

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def test_ramps_are_fitted_then_calibrated(tmp_path):
    readout = RampReadout("UTR", ngroups=5, frame_time=10.0, cosmic_ray_fraction=0.01)
    simulated = simulate_observation(tmp_path / "raw", instrument="IRIS", size=64, seed=4, readout=readout)
    add_references(
        tmp_path / "store", [simulated.mask, simulated.dark, simulated.flat, *simulated.ramp_references.values()]
    )
    copy_workflow(tmp_path, [{"name": "ramps", "instrument": "IRIS", "ramps": ["raw/*_SCI_LVL0_[0-9][0-9][0-9][0-9].fits"]}])

    exposure = simulated.ramps[0].name.removesuffix(".fits")
    expected = {("crds_select", ""), ("all", ""), ("detector1", f"ramps/{exposure}")} | chain(STEPS, "ramps", [exposure])
    expected |= looks("ramps", [exposure])
    assert planned_jobs(tmp_path) == expected
    snakemake(tmp_path)
    results = tmp_path / "results" / "ramps"
    assert sorted(path.name for path in results.iterdir()) == [*frame_products(f"{exposure}_cal"), f"{exposure}_raw.fits"]
    with datamodels.open(results / f"{exposure}_raw.fits") as raw:
        assert raw.meta.cal_step.ramp_fit == "COMPLETE"
        assert raw.meta.ref_file.saturation.name == simulated.ramp_references["saturation"].name
        truth = datamodels.open(simulated.true_rates[0]).data
        usable = (raw.dq & datamodels.dqflags.pixel["DO_NOT_USE"]) == 0
        assert np.mean(np.abs(raw.data - truth)[usable] < 3 * raw.err[usable]) > 0.98
    with datamodels.open(results / f"{exposure}_cal.fits") as cal:
        assert (cal.meta.cal_step.dark_current, cal.meta.cal_step.flat_field) == ("COMPLETE", "COMPLETE")
        assert cal.meta.ref_file.flat.name == simulated.flat.name
        assert cal.meta.exposure.readmode == "UTR"
    assert executed_jobs(tmp_path) == set()
