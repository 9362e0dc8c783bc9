"""What the drizzling steps (resample, outlier_detection) share: the frames checked for drizzling, the output grid they span, and each frame drizzled in turn (one frame in memory at a time)."""

import math
from contextlib import contextmanager

import numpy as np

from .. import units
from ..base_step import StepInputError, meta_value
from ..variances import VARIANCE_ARRAYS, frame_variances
from .drizzle_frames import footprint, frame_centre, good_pixels, input_weights, mosaic_grid, pixel_map, pixel_scale

__all__ = ["DRIZZLE_ARRAYS", "FrameGeometry", "drizzle_frame", "frame_background", "frame_geometry", "output_grid", "drizzle_inputs"]

#: The arrays ``drizzle_inputs`` uses (ERR is not drizzled: the mosaic's is made from its variances).
DRIZZLE_ARRAYS = ("data", "dq", *VARIANCE_ARRAYS)

#: Metadata every frame of a mosaic must share with the first (a mosaic is one instrument's, in one unit).
SHARED_META = ("instrument.name", "exposure.type")


class FrameGeometry:
    """What the grid needs of each frame: its footprint on the sky; and the first frame's centre and scale."""

    def __init__(self, footprints, first_centre, first_pixel_scale_deg):
        self.footprints, self.first_centre, self.first_pixel_scale_deg = footprints, first_centre, first_pixel_scale_deg


def frame_geometry(library):
    """Check every frame (header only) for drizzling and collect its footprint: StepInputError naming the file
    when a frame has no gWCS, is not in DN/s, has no usable exposure time, or differs from the first frame in
    instrument or exposure type."""
    footprints, first = [], None
    for index in range(len(library)):
        with library.frame(index, arrays=()) as model:
            name = model.meta.filename
            if model.meta.wcs is None:
                raise StepInputError(f"{name}: no WCS (meta.wcs); run assign_wcs first")
            try:
                units.data_unit(model, (units.RATE,), name)
            except units.UnitError as error:
                raise StepInputError(str(error)) from error
            exposure_time = model.meta.exposure.exposure_time
            if not (isinstance(exposure_time, (int, float)) and math.isfinite(exposure_time) and exposure_time > 0):
                raise StepInputError(f"{name}: EXPTIME {exposure_time!r} is not a positive exposure time")
            values = [meta_value(model, path) for path in SHARED_META]
            if first is None:
                shape = model.data.shape
                first = (name, values, frame_centre(model.meta.wcs, shape), pixel_scale(model.meta.wcs, shape))
            for path, ours, theirs in zip(SHARED_META, values, first[1]):
                if ours != theirs:
                    keyword = model.fits_keyword(f"meta.{path}") or path
                    raise StepInputError(f"{name}: {keyword} {ours!r} differs from {first[0]} {theirs!r}")
            footprints.append(footprint(model.meta.wcs, model.data.shape))
    return FrameGeometry(footprints, first[2], first[3])


def output_grid(geometry, pixel_scale_ratio=1.0, pixel_scale_arcsec=None, rotation=None, shape=None, crpix=None, crval=None):
    """The TAN grid of the mosaic (``mosaic_grid``): scale ``pixel_scale_arcsec``, else ``pixel_scale_ratio``
    times the first frame's; ``rotation`` (deg, +Y east of north) None for north up; ``shape`` as (nx, ny)."""
    scale_deg = pixel_scale_arcsec / 3600.0 if pixel_scale_arcsec else pixel_scale_ratio * geometry.first_pixel_scale_deg
    if not scale_deg > 0:
        raise StepInputError(f"output pixel scale {scale_deg * 3600.0!r} arcsec is not positive")
    try:
        return mosaic_grid(
            geometry.footprints,
            crval or geometry.first_centre,
            scale_deg,
            rotation or 0.0,
            shape=tuple(shape[::-1]) if shape else None,
            crpix=crpix,
        )
    except ValueError as error:
        raise StepInputError(f"output grid: {error}") from error


def frame_background(model):
    """The sky level skymatch measured and did not subtract (meta.background), else 0: drizzle subtracts it."""
    background = model.meta.background
    if background.level is not None and not background.subtracted:
        return float(background.level)
    return 0.0


@contextmanager
def drizzle_frame(library, index):
    """Borrow frame ``index`` of ``library`` with only the arrays drizzling uses (``DRIZZLE_ARRAYS``); read
    whole when its file lacks a variance array (the model then makes its variances from ERR)."""
    with library.frame(index, arrays=DRIZZLE_ARRAYS) as model:
        complete = all(model.instance.get(name) is not None for name in VARIANCE_ARRAYS)
        if complete:
            yield model
    if not complete:
        with library.frame(index) as model:
            yield model


def drizzle_inputs(model, grid, weight_type, good_bits, arrays=None):
    """The keyword arguments of ``MosaicDrizzle.add`` for frame ``model`` on ``grid`` (the pixel map and weights
    in ``arrays``' arrays when given: ``SlotArrays.of``)."""
    pixmap, area = pixel_map(model.meta.wcs, model.data.shape, grid, arrays)
    return dict(
        data=model.data,
        variances=frame_variances(model),
        weights=input_weights(
            good_pixels(model.dq, good_bits), model.var_rnoise, model.meta.exposure.exposure_time, weight_type, arrays
        ),
        pixmap=pixmap,
        area=area,
        exposure_time=model.meta.exposure.exposure_time,
        background=frame_background(model),
    )
