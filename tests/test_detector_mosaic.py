"""The four IRIS imager detectors (IMG1..IMG4, a 2 x 2 mosaic) each calibrate with their own references and get
a WCS that puts the simulator's stars on their true pixels."""

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from frames import simulated_reference_steps
from liger_iris_pipeline import ProcessImagerL2Pipeline
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.science


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    return simulate_observation(
        tmp_path_factory.mktemp("mosaic"), size=256, seed=5, n_detectors=4, pointing_error_mas=0.0, max_rotation_deg=0.0
    )


def test_each_detector_calibrates_with_its_references_and_its_stars_land_on_their_pixels(mosaic):
    detectors = set()
    for simulated in (mosaic, *mosaic.mosaic):
        model = ProcessImagerL2Pipeline.call(simulated.raw[0], steps=simulated_reference_steps(simulated))
        detector = model.meta.instrument.detector
        detectors.add(detector)
        assert model.meta.ref_file.flat.name == simulated.flat.name
        assert detector in simulated.flat.name and model.meta.cal_step.assign_wcs == "COMPLETE"
        stars = Table.read(simulated.catalogs[0])
        assert len(stars) > 5
        x, y = WCS(model.meta.wcsinfo.instance).all_world2pix(stars["ra"], stars["dec"], 0)
        assert np.max(np.hypot(x - stars["x"], y - stars["y"])) < 0.01, detector
        gx, gy = model.meta.wcs.invert(stars["ra"], stars["dec"])
        assert np.max(np.hypot(gx - stars["x"], gy - stars["y"])) < 0.01, detector
    assert detectors == {"IMG1", "IMG2", "IMG3", "IMG4"}
