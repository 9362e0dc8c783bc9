"""AssignWcsStep's gWCS against astropy.wcs reading the FITS keywords it writes, and against sky geometry; a
pointing, position angle or plate scale that cannot be is refused before any WCS is written."""

import subprocess

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from numpy.testing import assert_allclose

from commands import assert_one_line_error, command
from frames import SHAPE, file_digest, make_frame
from liger_iris_pipeline import AssignWcsStep, datamodels
from liger_iris_pipeline.base_step import StepInputError

RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


@pytest.fixture(params=[0.0, 37.5, -120.0])
def wcs_frame(request, tmp_path):
    """A 2048x2048 Liger frame at PA ``request.param``, through AssignWcsStep and saved."""
    frame = make_frame(np.zeros((2048, 2048), np.float32), instrument="LIGER")
    frame.meta.pointing.ra, frame.meta.pointing.dec, frame.meta.pointing.pa = 210.8, 54.35, request.param
    frame.meta.instrument.pixel_scale = 0.01
    path = tmp_path / "frame_cal.fits"
    AssignWcsStep.call(frame, override_distortion="N/A").save(path)
    return path, request.param


@pytest.mark.science
def test_gwcs_and_astropy_wcs_agree_over_the_frame(wcs_frame):
    path, _ = wcs_frame
    header_wcs = WCS(fits.getheader(path, "SCI"))
    with datamodels.open(path) as model:
        gwcs = model.meta.wcs
    y, x = np.mgrid[0:2048:64, 0:2048:64].astype(float)
    x, y = np.append(x.ravel(), 2047.0), np.append(y.ravel(), 2047.0)
    ra, dec = gwcs(x, y)
    x_astropy, y_astropy = header_wcs.all_world2pix(ra, dec, 0)
    assert np.max(np.hypot(x_astropy - x, y_astropy - y)) < 1e-3
    x_back, y_back = gwcs.invert(ra, dec)
    assert np.max(np.hypot(x_back - x, y_back - y)) < 1e-6


@pytest.mark.science
def test_sky_orientation_plate_scale_and_centre(wcs_frame):
    """Centre pixel at the pointing; +Y points PA east of north; one pixel is 10 mas."""
    path, pa = wcs_frame
    with datamodels.open(path) as model:
        gwcs = model.meta.wcs
    centre = SkyCoord(*gwcs(1023.5, 1023.5), unit="deg")
    assert centre.separation(SkyCoord(210.8, 54.35, unit="deg")).to_value("arcsec") < 1e-6
    up = SkyCoord(*gwcs(1023.5, 1023.5 + 100), unit="deg")
    right = SkyCoord(*gwcs(1023.5 + 100, 1023.5), unit="deg")
    assert_allclose(centre.separation(up).to_value("arcsec"), 1.0, rtol=1e-6)
    assert_allclose(centre.position_angle(up).to_value("deg") % 360, pa % 360, atol=1e-4)
    # +X is 90 deg west of +Y on the sky (east is to the left at PA 0).
    assert_allclose(centre.position_angle(right).to_value("deg") % 360, (pa - 90) % 360, atol=1e-4)


def test_pixels_outside_the_frame_are_outside_the_bounding_box(wcs_frame):
    path, _ = wcs_frame
    with datamodels.open(path) as model:
        assert np.all(np.isnan(model.meta.wcs(-5.0, 10.0)))


# --- Pointing, position angle and plate scale before a WCS ---------------------------------------------------


def liger_frame(**values):
    """A Liger frame with the pointing and plate scale of ``values`` (pointing.ra, instrument.pixel_scale, ...)."""
    frame = make_frame(np.zeros(SHAPE), instrument="LIGER")
    frame.meta.filename = "frame.fits"
    for path, value in values.items():
        group, name = path.split(".")
        setattr(getattr(frame.meta, group), name, value)
    return frame


BAD_GEOMETRY = {
    "dec-off-the-sky": ({"pointing.dec": 123.0}, "DEC_PNT 123.0 is not in [-90, 90] deg"),
    "dec-below-the-pole": ({"pointing.dec": -90.5}, "DEC_PNT -90.5 is not in [-90, 90] deg"),
    "ra-360": ({"pointing.ra": 360.0}, "RA_PNT 360.0 is not in [0, 360) deg"),
    "ra-negative": ({"pointing.ra": -0.1}, "RA_PNT -0.1 is not in [0, 360) deg"),
    "ra-nan": ({"pointing.ra": float("nan")}, "RA_PNT nan is not in [0, 360) deg"),
    "pa-infinite": ({"pointing.pa": float("inf")}, "PA_DET inf is not finite"),
    "scale-negative": ({"instrument.pixel_scale": -0.01}, "PIXSCALE -0.01 is not a plausible LIGER plate scale (0.005 to 0.02"),
    "scale-zero": ({"instrument.pixel_scale": 0.0}, "PIXSCALE 0.0 is not a plausible LIGER plate scale"),
    "scale-in-mas": ({"instrument.pixel_scale": 10.0}, "PIXSCALE 10.0 is not a plausible LIGER plate scale"),
    "scale-in-degrees": ({"instrument.pixel_scale": 0.01 / 3600}, "is not a plausible LIGER plate scale"),
    "scale-of-iris": ({"instrument.pixel_scale": 0.004}, "PIXSCALE 0.004 is not a plausible LIGER plate scale"),
}


@pytest.mark.parametrize("values, problem", BAD_GEOMETRY.values(), ids=BAD_GEOMETRY)
def test_a_geometry_that_cannot_be_on_the_sky_is_refused(values, problem):
    with pytest.raises(StepInputError, match="frame.fits: ") as error:
        AssignWcsStep.call(liger_frame(**values), override_distortion="N/A")
    assert problem in str(error.value)


@pytest.mark.parametrize("missing, keyword", [("pointing.ra", "RA_PNT"), ("pointing.dec", "DEC_PNT"), ("pointing.pa", "PA_DET")])
def test_a_missing_pointing_keyword_is_named_as_missing(missing, keyword):
    with pytest.raises(datamodels.DataModelError, match=f"frame.fits: missing required keyword\\(s\\) {keyword}"):
        AssignWcsStep.call(liger_frame(**{missing: None}), override_distortion="N/A")


@pytest.mark.science
@pytest.mark.parametrize(
    "values, scale",
    [
        ({"pointing.dec": 90.0, "pointing.ra": 0.0}, 0.010),
        ({"pointing.dec": -90.0, "pointing.ra": 359.999}, 0.010),
        ({"instrument.pixel_scale": 0.019}, 0.019),
        ({"instrument.pixel_scale": None}, 0.010),  # no PIXSCALE: the imager's nominal scale
    ],
)
def test_edges_of_the_sky_and_of_plausible_scales_give_their_wcs(values, scale):
    result = AssignWcsStep.call(liger_frame(**values), override_distortion="N/A")
    assert result.meta.cal_step.assign_wcs == "COMPLETE"
    assert_allclose(result.meta.wcsinfo.cdelt2 * 3600, scale)
    assert_allclose(result.meta.wcsinfo.crval2, values.get("pointing.dec", 2.0))


def test_a_pointing_off_the_sky_is_refused_by_tmtrun_and_no_wcs_is_written(calibration_files, tmp_path):
    raw = calibration_files["raw"]
    with fits.open(raw, mode="update") as hdulist:
        del hdulist["ASDF"]
        hdulist[0].header["DEC_PNT"] = 123.0
    digest = file_digest(raw)
    out = tmp_path / "out"
    result = subprocess.run([command("tmtrun"), "assign_wcs", str(raw), "--output-dir", str(out)], capture_output=True, text=True)
    assert_one_line_error(result, "tmtrun", RAW_NAME, "DEC_PNT 123.0 is not in [-90, 90] deg")
    assert file_digest(raw) == digest
    assert not out.exists() or not any(out.iterdir())
