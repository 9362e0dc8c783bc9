"""OutlierDetectionStep: flag what one frame has and the others do not (residual cosmic rays, new hot pixels)."""

import logging
import tempfile

import numpy as np
from drizzle.resample import blot_image

from ..base_step import LigerIrisStep, StepInputError
from ..dqflags import pixel as dq_flags
from ..resample.drizzle_frames import MosaicDrizzle, pixel_map
from ..resample.frames import drizzle_frame, drizzle_inputs, frame_background, frame_geometry, output_grid
from ..resample.resample_step import DRIZZLE_SPEC
from .outlier_detection import median_in_sections, outlier_mask, weight_threshold

__all__ = ["OutlierDetectionStep"]

log = logging.getLogger(__name__)

#: DQ of a flagged pixel (jwst's).
OUTLIER_FLAGS = np.uint32(dq_flags["OUTLIER"] | dq_flags["DO_NOT_USE"])


class OutlierDetectionStep(LigerIrisStep):
    """Median of the frames drizzled one by one onto a common grid, blotted back to each frame and compared
    (outlier_detection.py); outliers get OUTLIER | DO_NOT_USE in DQ.

    Takes paths, models or a FrameLibrary and returns the FrameLibrary of the flagged frames (``_crf``, each
    with S_OUTLIR; written to the output directory when results are saved, else to the library's work
    directory; the caller closes a library the step made). The single drizzled images go to temporary files
    (``in_memory`` keeps them in memory), so only a band of rows of each is read at once for the median.
    """

    class_alias = "outlier_detection"
    combines_members = True
    spec = (
        """
    suffix = string(default='crf')  # The outlier-flagged frames (Level 3)
    maskpt = float(min=0.0, max=1.0, default=0.7)  # Single-image pixels with weight below maskpt times the frame's typical weight are left out of the median
    snr = string(default='5.0 4.0')  # Thresholds in ERR: the detection and its neighbours
    scale = string(default='1.2 0.7')  # Thresholds in units of the blotted median's local derivative
    in_memory = boolean(default=False)  # Keep the single drizzled images in memory instead of temporary files
"""
        + DRIZZLE_SPEC
    )

    def process(self, frames):
        snr, scale = _pair(self.snr, "snr"), _pair(self.scale, "scale")
        library = self.open_library(frames)
        grid = output_grid(frame_geometry(library))
        median = self._median(library, grid)
        status = "SKIPPED" if median is None else "COMPLETE"
        for index in range(len(library)):
            with library.frame(index) as model:
                if median is not None:
                    self._flag(model, median, grid, snr, scale)
                self.record(model, status)
                self.finalize_result(model, [])
                path = self.make_output_path(basepath=model.meta.filename, suffix=self.suffix) if self.save_results else None
                library.replace(index, model, path)
        return library

    def _median(self, library, grid):
        """The median of the frames drizzled one by one onto ``grid``, or None (with a warning) when no pixel is
        seen by two frames: one frame, or frames that do not overlap (a mosaic of separate fields), has nothing to
        compare; such frames are passed on unflagged, SKIPPED."""
        if len(library) < 2:
            log.warning("%s: one frame, nothing to compare it with: outlier detection skipped", library.names[0])
            return None
        with tempfile.TemporaryDirectory(prefix="single_", dir=library.work_dir) as scratch:
            coverage, singles = np.zeros(grid.shape, np.uint16), []
            for index in range(len(library)):
                image = self._single(library, index, grid)
                coverage += np.isfinite(image)
                singles.append(image if self.in_memory else ImageFile(f"{scratch}/{index:04d}.f32", image))
            if coverage.max(initial=0) < 2:
                log.warning("%s...: no pixel is seen by two frames: outlier detection skipped", library.names[0])
                return None
            return median_in_sections(singles)

    def _single(self, library, index, grid):
        """Frame ``index`` drizzled alone onto ``grid``, NaN where its weight is below maskpt times its typical
        weight."""
        with drizzle_frame(library, index) as model:
            drizzle = MosaicDrizzle(grid.shape, self.kernel, self.pixfrac, "NAN", variances=False)
            drizzle.add(**drizzle_inputs(model, grid, self.weight_type, self.good_bits))
        image = drizzle.sci
        image[~(drizzle.wht >= weight_threshold(drizzle.wht, self.maskpt))] = np.nan
        return image

    def _flag(self, model, median, grid, snr, scale):
        """Flag the outliers of ``model`` against the ``median`` on ``grid`` and record the step."""
        pixmap, area = pixel_map(model.meta.wcs, model.data.shape, grid)
        blot = blot_image(median, pixmap, fillval=np.nan)
        blot *= area  # DN/s per output pixel to per input pixel
        outliers = outlier_mask(model.data, blot, model.err, snr, scale, frame_background(model))
        new = outliers & (model.dq & OUTLIER_FLAGS != OUTLIER_FLAGS)
        model.dq[outliers] |= OUTLIER_FLAGS
        log.info("%s: %d outlier pixels flagged (%.3g %%)", model.meta.filename, new.sum(), 100.0 * new.mean())


class ImageFile:
    """A float32 image written to a raw file and read back a band of rows at a time (``image[start:stop]``),
    with plain reads: unlike a memory map, the rows read do not stay in the process's memory."""

    def __init__(self, path, image):
        self.path, self.shape = path, image.shape
        np.ascontiguousarray(image, np.float32).tofile(path)

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        width = self.shape[1]
        band = np.fromfile(self.path, np.float32, count=max(stop - start, 0) * width, offset=start * width * 4)
        return band.reshape(-1, width)


def _pair(text, name):
    """Two numbers from a string such as '5.0 4.0'; StepInputError otherwise."""
    try:
        values = tuple(float(value) for value in str(text).split())
    except ValueError:
        values = ()
    if len(values) != 2:
        raise StepInputError(f"outlier_detection: {name} {text!r} is not two numbers (e.g. '5.0 4.0')")
    return values
