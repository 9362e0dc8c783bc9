"""SkyMatchStep: the sky level of each frame of a dithered observation, alone or matched to the others."""

import logging

import numpy as np

from ..base_step import LigerIrisStep, StepInputError
from ..datamodels.library import exposure_group
from ..dqflags import pixel
from .skymatch import SkyStatistic, frame_samples, match_levels, pair_differences

__all__ = ["SkyMatchStep"]

log = logging.getLogger(__name__)


class SkyMatchStep(LigerIrisStep):
    """Measure each frame's sky level (BKGLEVEL, BKGMETH) and, with ``subtract``, take it off SCI (BKGSUB).

    ``skymethod``: 'local' (each frame's own sky), 'global' (the lowest local sky for all), 'match' (levels
    from the sky differences where the frames overlap on the sky, through their WCS; the lowest 0) or
    'global+match' (matched, plus the lowest sky left). Pixels with DO_NOT_USE take no part. In a match, the
    frames of one exposure (IRIS's detectors; ``datamodels.library.exposure_group``) share one level, so that
    detectors which never overlap each other are matched through the dither.
    """

    class_alias = "skymatch"
    combines_members = True
    spec = """
    suffix = string(default='skymatch')  # Frames with their sky level
    skymethod = option('local', 'global', 'match', 'global+match', default='match')  # How the levels are found
    skystat = option('mode', 'median', 'mean', default='mode')  # Sky statistic of the clipped pixels (mode = 3 median - 2 mean)
    lower = float(default=None)  # Pixels below this take no part
    upper = float(default=None)  # Pixels above this take no part
    nclip = integer(min=0, default=5)  # Clipping rounds
    lsigma = float(min=0.0, default=4.0)  # Lower clipping limit, in standard deviations
    usigma = float(min=0.0, default=4.0)  # Upper clipping limit, in standard deviations
    stride = integer(min=1, default=4)  # Sample every stride-th pixel (and bin the common grid in cells of that size) for the match
    subtract = boolean(default=False)  # Subtract the level from SCI
    """

    def process(self, frames):
        library = self.open_library(frames)
        statistic = SkyStatistic(self.skystat, self.lower, self.upper, self.nclip, self.lsigma, self.usigma)
        local = self.skymethod in ("local", "global", "global+match")
        matched = "match" in self.skymethod
        samples, local_levels, exposures, grid_wcs = [], [], [], None
        for index in range(len(library)):
            with library.frame(index) as model:
                usable = (model.dq & pixel["DO_NOT_USE"]) == 0
                if local:
                    local_levels.append(statistic(model.data[usable]))
                if matched:
                    if model.meta.wcs is None:
                        raise StepInputError(f"{model.meta.filename}: no WCS (meta.wcs); skymethod {self.skymethod} needs one")
                    grid_wcs = grid_wcs or model.meta.wcs
                    to_grid = _pixel_to_grid(model.meta.wcs, grid_wcs)
                    samples.append(frame_samples(model.data, usable, to_grid, self.stride))
                    group = exposure_group(model.meta)
                    exposures.append(group if group is not None else ("alone", index))
        levels, usable_levels = self._levels(library, np.asarray(local_levels), samples, exposures, statistic)
        for index, level in enumerate(levels):
            self._apply(library, index, level, usable_levels[index])
        self.save_members(library)
        return library

    def _levels(self, library, local_levels, samples, exposures, statistic):
        """The level of each frame, and whether it is known."""
        n_frames = len(library)
        if self.skymethod == "local":
            return local_levels, np.isfinite(local_levels)
        if self.skymethod == "global":
            return np.full(n_frames, np.nanmin(local_levels)), np.full(n_frames, np.isfinite(local_levels).any())
        levels, groups = match_levels(n_frames, pair_differences(samples, statistic), exposures)
        alone = [group[0] for group in groups if len(group) == 1]
        for index in alone:
            log.warning("%s overlaps no other frame: its sky cannot be matched", library.names[index])
        known = np.array([index not in alone or n_frames == 1 for index in range(n_frames)])
        if self.skymethod == "global+match":
            levels = levels + np.nanmin(local_levels - levels)
        return levels, known

    def _apply(self, library, index, level, known):
        """Record ``level`` (and subtract it) for member ``index``, or SKIP it when not ``known``."""
        name = library.names[index]
        if not known or not np.isfinite(level):
            log.warning("%s: no sky level (%s); left as it was", name, self.skymethod)
            self.record_member(library, index, "SKIPPED")
            return
        log.info("%s: sky level %.6g (%s)", name, level, self.skymethod)
        library.update_meta(index, {
            "meta.background.level": float(level),
            "meta.background.method": self.skymethod,
            "meta.background.subtracted": bool(self.subtract),
        })
        self.record_member(library, index, "COMPLETE")
        if self.subtract:
            with library.frame(index) as model:
                model.data -= np.float32(level)
                library.replace(index, model)


def _pixel_to_grid(frame_wcs, grid_wcs):
    """Map 0-based pixel (x, y) of the frame of ``frame_wcs`` to those of the frame of ``grid_wcs``."""
    def to_grid(x, y):
        return grid_wcs.invert(*frame_wcs(x, y, with_bounding_box=False), with_bounding_box=False)
    return to_grid
