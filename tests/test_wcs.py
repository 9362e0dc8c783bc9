"""AssignWcsStep's gWCS against astropy.wcs reading the FITS keywords it writes, and against sky geometry."""

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from numpy.testing import assert_allclose

from frames import make_frame
from liger_iris_pipeline import AssignWcsStep, datamodels


@pytest.fixture(params=[0.0, 37.5, -120.0])
def wcs_frame(request, tmp_path):
    """A 2048x2048 Liger frame at PA ``request.param``, through AssignWcsStep and saved."""
    frame = make_frame(np.zeros((2048, 2048), np.float32), instrument="LIGER")
    frame.meta.pointing.ra, frame.meta.pointing.dec, frame.meta.pointing.pa = 210.8, 54.35, request.param
    frame.meta.instrument.pixel_scale = 0.01
    path = tmp_path / "frame_cal.fits"
    AssignWcsStep.call(frame).save(path)
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
