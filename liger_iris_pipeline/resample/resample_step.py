"""ResampleStep: drizzle the frames of an observation into one mosaic (``_i2d``)."""

import logging

import numpy as np

from ..base_step import LigerIrisStep, StepInputError
from ..datamodels import MosaicModel
from .. import units
from .drizzle_frames import MosaicDrizzle
from .frames import drizzle_frame, drizzle_inputs, frame_geometry, output_grid

__all__ = ["ResampleStep"]

log = logging.getLogger(__name__)

#: The drizzle parameters both drizzling steps take (jwst's names and defaults).
DRIZZLE_SPEC = """
    pixfrac = float(min=0.0, max=1.0, default=1.0)  # Drop size as a fraction of the input pixel
    kernel = option('square', 'gaussian', 'point', 'turbo', 'lanczos2', 'lanczos3', default='square')  # Drizzle kernel (gaussian and lanczos do not conserve flux)
    weight_type = option('ivm', 'exptime', default='ivm')  # Input weights: 1 / VAR_RNOISE (ivm) or EXPTIME
    good_bits = string(default='~DO_NOT_USE+NON_SCIENCE')  # DQ bits that do not exclude a pixel (astropy bit-flag expression)
    processes = integer(min=1, max=2, default=2)  # Frames drizzled at once, each in a forked process (drizzle's kernel holds the GIL); the same result with 1
"""

#: Metadata the mosaic takes from its first frame.
COPIED_META = (
    "telescope", "instrument.name", "instrument.detector", "instrument.filter", "instrument.mode", "exposure.type",
    "observation.date", "observation.time", "observation.program_number", "observation.observation_number",
    "target.name", "target.ra", "target.dec",
)


class ResampleStep(LigerIrisStep):
    """Drizzle the calibrated frames (paths, models or a FrameLibrary) onto one TAN grid, one frame at a time.

    The grid holds every frame's footprint: pixel scale ``pixel_scale`` (arcsec) or ``pixel_scale_ratio`` times
    the first frame's, +Y at ``rotation`` deg east of north (None: north up), or the given ``output_shape``
    (nx, ny), ``crpix`` and ``crval``. The mosaic is in DN/s per output pixel (drizzle_frames.py).
    """

    class_alias = "resample"
    combines_members = True
    spec = (
        """
    suffix = string(default='i2d')  # The mosaic (Level 3)
    pixel_scale_ratio = float(default=1.0)  # Output pixel scale over the first frame's (when pixel_scale is not given)
    pixel_scale = float(default=None)  # Output pixel scale [arcsec]
    rotation = float(default=None)  # Position angle of the output +Y axis, east of north [deg]; None: north up
    fillval = string(default='NAN')  # Value of output pixels no input pixel covers
    output_shape = int_list(min=2, max=2, default=None)  # Output size (nx, ny); None: the frames' union
    crpix = float_list(min=2, max=2, default=None)  # Output reference pixel (1-based x, y)
    crval = float_list(min=2, max=2, default=None)  # Output reference position (RA, Dec) [deg]
"""
        + DRIZZLE_SPEC
    )

    def process(self, frames):
        library = self.open_library(frames)
        try:
            geometry = frame_geometry(library)
            grid = output_grid(
                geometry, self.pixel_scale_ratio, self.pixel_scale, self.rotation, self.output_shape, self.crpix, self.crval
            )
            log.info("Mosaic grid %d x %d pixels of %.6g arcsec", grid.shape[1], grid.shape[0], grid.pixel_scale_deg * 3600)
            mosaic = MosaicModel()
            statuses = []
            with MosaicDrizzle(
                grid.shape, self.kernel, self.pixfrac, self.fillval, n_frames=len(library), processes=self.processes
            ) as drizzle:
                for index in range(len(library)):
                    arrays = drizzle.arrays()
                    with drizzle_frame(library, index) as model:
                        if index == 0:
                            _copy_meta(model, mosaic)
                        statuses.append(model.meta.cal_step.instance)
                        inputs = drizzle_inputs(model, grid, self.weight_type, self.good_bits, arrays)
                        if not inputs["weights"].any():
                            log.warning("%s: no pixel passes good_bits %s with a usable weight", model.meta.filename, self.good_bits)
                        drizzle.add(**inputs)
            if not (drizzle.wht > 0).any():
                raise StepInputError(f"{library.names[0]}: no frame has a usable pixel (good_bits {self.good_bits})")
            self._fill(mosaic, drizzle, grid, library.names, geometry.first_pixel_scale_deg)
            for step, status in weakest_statuses(statuses).items():
                setattr(mosaic.meta.cal_step, step, status)
        finally:
            if library is not frames:
                library.close()
        self.record(mosaic, "COMPLETE")
        return mosaic

    def _fill(self, mosaic, drizzle, grid, names, first_pixel_scale_deg):
        """Put the drizzled arrays, the grid's WCS and how it was made into ``mosaic``."""
        mosaic.data = drizzle.sci
        mosaic.var_poisson, mosaic.var_rnoise, mosaic.var_flat = drizzle.variances
        mosaic.err = drizzle.err
        mosaic.wht = drizzle.wht
        mosaic.con = drizzle.con
        mosaic.meta.wcs = grid.wcs
        for key, value in grid.wcsinfo.items():
            setattr(mosaic.meta.wcsinfo, key, value)
        mosaic.meta.bunit_data = mosaic.meta.bunit_err = units.RATE
        mosaic.meta.exposure.exposure_time = drizzle.total_exposure_time
        resample = mosaic.meta.resample
        resample.pixfrac, resample.kernel, resample.weight_type = self.pixfrac, self.kernel, self.weight_type
        resample.good_bits, resample.fillval = self.good_bits, self.fillval
        resample.pixel_scale = grid.pixel_scale_deg * 3600.0
        resample.pixel_scale_ratio = grid.pixel_scale_deg / first_pixel_scale_deg
        resample.rotation = grid.rotation_deg
        resample.n_frames = len(names)
        resample.members = list(names)


#: Step statuses from the most to the least complete.
STATUS_ORDER = ("COMPLETE", "SKIPPED", "FAILED")


def weakest_statuses(frame_statuses):
    """{step: status} of the mosaic from its frames' {step: status}: the least complete status any frame has
    (a mosaic with one unaligned frame is not aligned COMPLETE); a step some frame lacks is SKIPPED."""
    steps = set().union(*frame_statuses)
    return {
        step: max((statuses.get(step, "SKIPPED") for statuses in frame_statuses), key=STATUS_ORDER.index)
        for step in sorted(steps)
    }


def _copy_meta(frame, mosaic):
    for path in COPIED_META:
        *parents, leaf = path.split(".")
        source, target = frame.meta, mosaic.meta
        for part in parents:
            source, target = getattr(source, part), getattr(target, part)
        value = getattr(source, leaf, None)
        if value is not None:
            setattr(target, leaf, value)
