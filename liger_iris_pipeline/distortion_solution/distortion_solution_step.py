"""DistortionSolutionStep: a dithered observation of a dense star field -> a ``distortion`` reference."""

import logging

import numpy as np

from ..assign_wcs.imager_wcs import imaging_gwcs
from ..base_step import StepInputError
from ..datamodels import DistortionModel, dqflags
from ..instruments import IMAGERS
from ..reference_product import ReferenceProductStep
from ..forked import ForkPool, SlotArrays
from ..tweakreg.tweakreg_step import kernel_fwhm_pixels, read_reference_catalog
from ..variances import VARIANCE_ARRAYS
from .distortion_solution import FrameStars, measure_stars, solve_distortion

__all__ = ["DistortionSolutionStep"]

log = logging.getLogger(__name__)

#: Points per side of the grid on which a frame's nominal placement in the common plane is fitted.
PLACEMENT_GRID = 3
#: Detector pixels per star a frame's results have room for (DAOFIND keeps peaks a FWHM apart).
STAR_AREA = 16


class DistortionSolutionStep(ReferenceProductStep):
    """Solve the geometric distortion of a detector from dithered exposures of a dense star field.

    Each frame's stars are found (DAOFIND) and centroided with a Gaussian window (XWIN), with their errors
    from ERR. The frames are placed in a common plane (the first frame's ideal pixels) by their headers'
    pointing, position angle and plate scale, and the distortion polynomial (orders 2 to ``degree``) is fitted
    with each frame's shift and rotation, against the ``catalog`` (RA, Dec in ECSV, as tweakreg's
    ``abs_refcat``) or, without one, by self-calibration across the dithers (distortion_solution.py).

    The product is a ``distortion`` reference of the frames' detector and filter (USEAFTER the first
    exposure's start) whose ``meta.distortion`` reports the solution's residuals and its 1-sigma uncertainty
    over the detector; ``reference_names.reference_file_name`` names it.
    """

    class_alias = "distortion_solution"
    shared_meta = ReferenceProductStep.shared_meta + ("instrument.filter",)
    spec = """
    suffix = string(default='distortion')  # The output is a distortion reference
    catalog = string(default='')  # ECSV reference catalogue (ra, dec in deg) of the field; '' to self-calibrate across the dithers
    degree = integer(default=5, min=2, max=7)  # Highest order of the distortion polynomial
    kernel_fwhm = float(default=None)  # FWHM (pixels) of the detection kernel; default the diffraction limit in the frames' filter
    snr_threshold = float(default=10.0)  # Detection threshold, in sigmas of the background
    bkg_boxsize = integer(default=128)  # Box (pixels) of the background map
    search_radius = float(default=40.0)  # Largest pointing error (pixels) the first matching allows
    clip_sigma = float(default=4.0)  # Reject detections whose residual exceeds this many sigmas
    min_frames_per_star = integer(default=2, min=2)  # Self-calibration: frames a star must be seen in
    processes = integer(default=2, min=1, max=2)  # Frames measured at once (forked processes on Linux)
    """

    def process(self, frames):
        table = read_reference_catalog(self.catalog) if self.catalog else None  # a bad catalogue fails first
        members, stars, kept = [], [], SlotArrays()
        with ForkPool(self.processes) as pool:
            for frame in self.member_inputs(frames):  # one pass: a pipeline may hand the frames over one by one
                model = self.open_input(frame)
                first = members[0] if members else model
                self.check_member(model, first)
                if model is first:
                    if model.meta.subarray.name not in (None, "FULL"):
                        raise StepInputError(f"{model.meta.filename}: a distortion is solved from full frames, not subarray {model.meta.subarray.name}")
                    fwhm = kernel_fwhm_pixels(model, self.kernel_fwhm)
                    common_wcs = _undistorted_wcs(model)
                    shape = model.data.shape
                self._measure(pool, kept, model, fwhm, _placement(_undistorted_wcs(model), common_wcs, shape), stars)
                if model is not first:
                    _release_arrays(model)  # a forked measurement has its own view; only the metadata is needed here
                members.append(model)
        if not members:
            raise StepInputError(f"{self.class_alias}: no exposures to solve from")
        first = members[0]
        catalog = None
        if table is not None:
            catalog = np.column_stack(common_wcs.invert(table["RA"], table["DEC"], with_bounding_box=False))
            catalog = catalog[np.isfinite(catalog).all(axis=1)]  # the far side of the sky has no tangent-plane position
            if not len(catalog):
                raise StepInputError(f"{self.catalog}: no star of the catalogue lies on the frames' side of the sky")
        try:
            solution = solve_distortion(
                stars, shape, self.degree, catalog, self.search_radius, self.clip_sigma, self.min_frames_per_star
            )
        except (ValueError, np.linalg.LinAlgError) as error:
            raise StepInputError(f"{first.meta.filename} and {len(members) - 1} more: no distortion solution: {error}") from error

        product = DistortionModel()
        product.model = solution.transform()
        product.meta.instrument.filter = first.meta.instrument.filter
        self.describe_product(
            product, members,
            f"Distortion solved by {solution.method} from {len(members)} dithered exposures "
            f"({solution.n_stars} stars, degree {solution.degree})",
        )
        product.meta.distortion = {
            "method": solution.method,
            "degree": solution.degree,
            "n_frames": len(members),
            "n_stars": solution.n_stars,
            "n_detections": solution.n_detections,
            "n_rejected": solution.n_rejected,
            "rms_residual": solution.rms_residual,
            "uncertainty_rms": solution.uncertainty_rms,
            "uncertainty_max": solution.uncertainty_max,
        }
        log.info(
            "Distortion by %s: %d stars in %d detections (%d rejected), RMS residual %.4f pixel; 1-sigma "
            "uncertainty %.4f pixel RMS, %.4f at most over the detector; largest displacement %.3f pixels",
            solution.method, solution.n_stars, solution.n_detections, solution.n_rejected, solution.rms_residual,
            solution.uncertainty_rms, solution.uncertainty_max, solution.largest_displacement(),
        )
        self.record(product, "COMPLETE")
        return product

    def _measure(self, pool, kept, model, fwhm, placement, stars):
        """Append the frame's FrameStars to ``stars`` once ``pool`` has measured them (in a forked process)."""
        slot = pool.reserve()
        capacity = max(model.data.size // STAR_AREA, 1)
        table = kept.get(slot, "stars", (capacity, 4), np.float64)
        count = kept.get(slot, "count", (1,), np.int64)
        arguments = (model.data, model.dq, model.err, fwhm, self.snr_threshold, self.bkg_boxsize)
        name = model.meta.filename

        def collect():
            x, y, sigma, flux = table[: count[0]].T.copy()
            log.info("%s: %d stars, median centroid error %.4f pixel", name, np.count_nonzero(np.isfinite(x)), np.nanmedian(sigma) if len(sigma) else np.nan)
            stars.append(FrameStars(x, y, sigma, flux, *placement))

        pool.submit(_measure_into, table, count, *arguments, then=collect)


def _measure_into(table, count, data, dq, err, fwhm, snr_threshold, box_size):
    """Write the frame's stars (x, y, sigma, flux; the brightest that fit) into ``table`` and their number
    into ``count``: the task of a forked process."""
    unusable = ((dq & dqflags.pixel["DO_NOT_USE"]) != 0) | ~np.isfinite(data)
    x, y, sigma, flux = measure_stars(data, unusable, err, fwhm, snr_threshold, box_size)
    n = min(len(x), len(table))
    table[:n] = np.column_stack([x, y, sigma, flux])[:n]
    count[0] = n


def _release_arrays(model):
    """Drop a frame's arrays (its stars are measured), keeping its metadata."""
    for name in ("data", "err", "dq", *VARIANCE_ARRAYS):
        if name in model.instance:
            delattr(model, name)


def _undistorted_wcs(model):
    """The frame's TAN gWCS (no distortion) from its pointing, position angle and plate scale."""
    pointing = model.meta.pointing
    scale_deg = (model.meta.instrument.pixel_scale or IMAGERS[model.meta.instrument.name].pixel_scale) / 3600.0
    ny, nx = model.data.shape
    return imaging_gwcs(((nx + 1) / 2.0, (ny + 1) / 2.0), (pointing.ra, pointing.dec), scale_deg, pointing.pa, (ny, nx))


def _placement(frame_wcs, common_wcs, shape):
    """(matrix, offset) of the affine that takes the frame's ideal pixels to the common plane's, fitted on a
    grid over the frame (two tangent planes a few arcseconds apart differ from an affine by far less than
    1e-6 pixel)."""
    ny, nx = shape
    x, y = (grid.ravel() for grid in np.meshgrid(np.linspace(0, nx - 1, PLACEMENT_GRID), np.linspace(0, ny - 1, PLACEMENT_GRID)))
    ra, dec = frame_wcs(x, y, with_bounding_box=False)
    common = np.column_stack(common_wcs.invert(ra, dec, with_bounding_box=False))
    design = np.column_stack([x, y, np.ones_like(x)])
    solution, *_ = np.linalg.lstsq(design, common, rcond=None)
    return solution[:2].T, solution[2]
