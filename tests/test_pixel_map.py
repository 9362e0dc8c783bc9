"""The projective pixel map of the drizzling steps against drizzle's calc_pixmap through the gWCS."""

import numpy as np
import pytest
from astropy.modeling import models
from drizzle.utils import calc_pixmap
from gwcs import wcs as gwcs_wcs

from liger_iris_pipeline.assign_wcs.imager_wcs import imaging_gwcs
from liger_iris_pipeline.resample.drizzle_frames import footprint, mosaic_grid, pixel_area, pixel_map, projective_matrix

SCALE_DEG = 0.004 / 3600.0
SHAPE = (60, 80)


def frame_and_grid(frame_pa=17.0, grid_pa=0.0, scale_ratio=0.7, offset_deg=(2e-3, -1e-3)):
    frame = imaging_gwcs((40.5, 30.5), (150.0 + offset_deg[0], 2.0 + offset_deg[1]), SCALE_DEG, frame_pa, SHAPE)
    grid = mosaic_grid([footprint(frame, SHAPE)], (150.0, 2.0), scale_ratio * SCALE_DEG, grid_pa)
    return frame, grid


@pytest.mark.parametrize("frame_pa, grid_pa, scale_ratio", [(0.0, 0.0, 1.0), (17.0, 0.0, 0.7), (-40.0, 25.0, 1.3)])
def test_projective_pixel_map_matches_the_gwcs(frame_pa, grid_pa, scale_ratio):
    frame, grid = frame_and_grid(frame_pa, grid_pa, scale_ratio)
    assert projective_matrix(frame, SHAPE, grid) is not None
    pixmap, area = pixel_map(frame, SHAPE, grid)
    expected = calc_pixmap(frame, grid.wcs, shape=SHAPE, disable_bbox="to")
    assert np.abs(pixmap - expected).max() < 1e-6
    np.testing.assert_allclose(area, pixel_area(expected), rtol=1e-6)
    np.testing.assert_allclose(area, 1.0 / scale_ratio**2, rtol=1e-5)


def test_a_distorted_gwcs_takes_the_general_path():
    frame, grid = frame_and_grid()
    distortion = models.Polynomial2D(2, c0_0=0.0, c1_0=1.0, c0_1=0.0, c2_0=1e-4) & models.Polynomial2D(
        2, c0_0=0.0, c1_0=0.0, c0_1=1.0
    )
    distortion = models.Mapping((0, 1, 0, 1)) | distortion
    detector, sky = frame.pipeline
    distorted = gwcs_wcs.WCS([(detector.frame, distortion | detector.transform), (sky.frame, None)])
    distorted.bounding_box = frame.bounding_box.bounding_box(order="F")
    assert projective_matrix(distorted, SHAPE, grid) is None
    pixmap, _ = pixel_map(distorted, SHAPE, grid)
    np.testing.assert_array_equal(pixmap, calc_pixmap(distorted, grid.wcs, shape=SHAPE, disable_bbox="to"))


def test_pixels_outside_the_bounding_box_are_nan():
    frame, grid = frame_and_grid()
    frame.bounding_box = ((-0.5, 49.5), (9.5, SHAPE[0] - 0.5))
    pixmap, _ = pixel_map(frame, SHAPE, grid)
    expected = calc_pixmap(frame, grid.wcs, shape=SHAPE, disable_bbox="to")
    np.testing.assert_array_equal(np.isnan(pixmap), np.isnan(expected))
    assert np.nanmax(np.abs(pixmap - expected)) < 1e-6
