"""A subarray frame reduced alone gives exactly the full frame's result on its window: SCI, ERR, DQ and sky.

The simulator cuts each subarray frame from the full frame (same noise), and the steps cut the full-frame
references to the window, so after every step the subarray's arrays must equal the window of the full frame's
bit for bit, and its WCS must put each pixel where the full frame's WCS puts the same detector pixel.
"""

import re

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from liger_iris_pipeline import DarkCurrentStep, DQInitStep, FlatFieldStep, ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.science

SIZE = 128
#: (name, xstart, ystart, xsize, ysize): at the first pixel, touching the last column and row, and inside.
SUBARRAYS = (("CORNER", 1, 1, 32, 24), ("EDGE", 97, 81, 32, 48), ("INNER", 40, 50, 20, 16))
CASES = {
    # IRIS's frames are drawn through a geometric distortion: each window's WCS must follow the detector's.
    "IRIS": {"instrument": "IRIS", "pa_deg": 0.0, "n_exposures": 1, "pointing": (150.1, 2.2), "distortion_pixels": 3.0},
    # The last exposure is reduced: LIGER's second one is dithered, so its pointing is not the target's.
    "LIGER": {"instrument": "LIGER", "pa_deg": 33.0, "n_exposures": 2, "pointing": (270.5, -29.0)},
}
#: The suffix of each step's product.
STEP_SUFFIXES = {"dq_init": "dqinit", "dark_current": "dark", "flat_field": "flat", "assign_wcs": "cal"}
#: The steps that use a reference: their class and reference type.
REFERENCE_STEPS = {
    "dq_init": (DQInitStep, "mask"),
    "dark_current": (DarkCurrentStep, "dark"),
    "flat_field": (FlatFieldStep, "flat"),
}
MAX_SEPARATION_ARCSEC = 1e-6


def reference_overrides(simulated):
    """Step parameters that give each step the simulated full-frame reference (N/A: no distortion simulated)."""
    return {
        **{step: {f"override_{reftype}": str(getattr(simulated, reftype))} for step, (_, reftype) in REFERENCE_STEPS.items()},
        "assign_wcs": {"override_distortion": str(simulated.distortion or "N/A")},
    }


def reduce(raw_path, simulated, output_dir):
    """ProcessImagerL2Pipeline on ``raw_path``, saving every step's product; returns their paths by step."""
    steps = {step: {**parameters, "save_results": True} for step, parameters in reference_overrides(simulated).items()}
    ProcessImagerL2Pipeline.call(raw_path, output_dir=str(output_dir), save_results=True, steps=steps)
    return {step: output_dir / f"{raw_path.stem}_{suffix}.fits" for step, suffix in STEP_SUFFIXES.items()}


@pytest.fixture(scope="module", params=list(CASES))
def reductions(request, tmp_path_factory):
    """The products of the last exposure's full frame and of each of its subarray frames, reduced separately."""
    case = CASES[request.param]
    simulated = simulate_observation(
        tmp_path_factory.mktemp(request.param), size=SIZE, seed=11, subarrays=SUBARRAYS, **case
    )
    output_dir = tmp_path_factory.mktemp("reduced")
    return {
        "simulated": simulated,
        "full": reduce(simulated.raw[-1], simulated, output_dir),
        "subarrays": [reduce(path, simulated, output_dir) for path in simulated.subarrays[-1]],
    }


def window_of(model):
    """The (rows, columns) slices of a subarray frame's window in the full frame, from its own metadata."""
    sub = model.meta.subarray
    return slice(sub.ystart - 1, sub.ystart - 1 + sub.ysize), slice(sub.xstart - 1, sub.xstart - 1 + sub.xsize)


@pytest.mark.parametrize("step", list(STEP_SUFFIXES))
def test_subarray_products_equal_the_window_of_the_full_frame(reductions, step):
    flagged_pixels = 0
    with datamodels.open(reductions["full"][step]) as full:
        assert getattr(full.meta.cal_step, step) == "COMPLETE"
        # The full frame's SUBARR_MAP survives the reduction and marks exactly the windows.
        assert np.count_nonzero(full.subarr_map) == sum(xsize * ysize for *_, xsize, ysize in SUBARRAYS)
        for subarray_id, products in enumerate(reductions["subarrays"], start=1):
            with datamodels.open(products[step]) as subarray:
                assert getattr(subarray.meta.cal_step, step) == "COMPLETE"
                window = window_of(subarray)
                assert np.all(full.subarr_map[window] == subarray_id)
                np.testing.assert_array_equal(subarray.data, full.data[window])
                np.testing.assert_array_equal(subarray.err, full.err[window])
                np.testing.assert_array_equal(subarray.dq, full.dq[window])
                flagged_pixels += np.count_nonzero(subarray.dq)
    assert flagged_pixels > 0  # bad pixels fall in the windows, so the DQ comparison has something to compare


def sky_separation_arcsec(ra_deg, dec_deg, other_ra_deg, other_dec_deg):
    return SkyCoord(ra_deg, dec_deg, unit="deg").separation(SkyCoord(other_ra_deg, other_dec_deg, unit="deg")).arcsec


def pixel_grids(subarray_model):
    """Every pixel of a subarray frame (0-based x, y) and the same detector pixels in the full frame."""
    ny, nx = subarray_model.data.shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    sub = subarray_model.meta.subarray
    return (x.ravel(), y.ravel()), (x.ravel() + sub.xstart - 1, y.ravel() + sub.ystart - 1)


def test_subarray_pixels_land_on_the_sky_where_the_full_frame_puts_them(reductions):
    full_path = reductions["full"]["assign_wcs"]
    full_header_wcs = WCS(fits.getheader(full_path, "SCI"))
    with datamodels.open(full_path) as full:
        full_gwcs = full.meta.wcs
    for products in reductions["subarrays"]:
        path = products["assign_wcs"]
        with datamodels.open(path) as subarray:
            (x, y), (full_x, full_y) = pixel_grids(subarray)
            gwcs_separation = sky_separation_arcsec(*subarray.meta.wcs(x, y), *full_gwcs(full_x, full_y))
        header_wcs = WCS(fits.getheader(path, "SCI"))
        header_separation = sky_separation_arcsec(
            *header_wcs.pixel_to_world_values(x, y), *full_header_wcs.pixel_to_world_values(full_x, full_y)
        )
        assert np.max(gwcs_separation) < MAX_SEPARATION_ARCSEC
        assert np.max(header_separation) < MAX_SEPARATION_ARCSEC


@pytest.mark.parametrize("step", list(REFERENCE_STEPS))
def test_window_outside_the_reference_is_an_error_naming_it(reductions, tmp_path, step):
    """The EDGE window moved one column right runs past the full-frame reference's last column."""
    simulated = reductions["simulated"]
    edge_path = simulated.subarrays[-1][1]
    with datamodels.open(edge_path) as edge:
        assert edge.meta.subarray.xstart + edge.meta.subarray.xsize - 1 == SIZE
        edge.meta.subarray.xstart += 1
        edge.save(tmp_path / edge_path.name)
    step_class, reftype = REFERENCE_STEPS[step]
    reference_name = getattr(simulated, reftype).name
    with pytest.raises(StepInputError, match=rf"^{re.escape(reference_name)}: .*{re.escape(edge_path.name)}"):
        step_class.call(tmp_path / edge_path.name, **reference_overrides(simulated)[step])
