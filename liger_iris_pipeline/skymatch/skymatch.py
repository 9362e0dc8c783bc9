"""Sky levels of the frames of a dithered observation, each alone or matched to each other where they overlap.

Sky statistic of a set of pixel values v (the usable ones, within [lower, upper] when given): ``nclip``
rounds keep mean - lsigma std <= v <= mean + usigma std (stars and defects are removed), then

    mean, median, or mode = 3 median - 2 mean (Pearson's estimate, as jwst's skymatch does without a histogram)

Methods (jwst's skymatch):

- local: each frame's level L_i is the statistic of its own pixels;
- global: every frame gets the smallest local level;
- match: the sky differences where frames overlap fix the levels up to a constant. For each pair (i, j) whose
  footprints share at least ``MIN_OVERLAP_SAMPLES`` samples, d_ij = S_i - S_j, the statistics of each frame's
  pixels in the overlap, weighted by the number of overlap samples w_ij; the levels minimise

      sum over pairs w_ij (L_i - L_j - d_ij)**2

  and, within each group of frames connected by overlaps, the lowest level is 0 (jwst's match_down). The frames
  of one exposure (IRIS's four detectors, which never overlap each other) share one level, as in jwst's sky
  groups: one sky at one time and pointing. That ties every detector to the others through the dither's
  overlaps of each detector with itself; without it each detector would be matched on its own, its zero
  undetermined against the others';
- global+match: the matched levels plus the smallest local level of the frames minus their matched levels.

Overlaps are found on a common grid: each frame's pixels, sampled every ``stride`` pixels, are mapped by their
WCS to the sky and into the first frame's pixel grid, binned in cells of ``stride`` pixels; two frames
overlap in the cells both reach.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["SkyStatistic", "FrameSamples", "frame_samples", "match_levels", "pair_differences"]

#: Fewest overlap samples (each frame's) for a pair to count in the match.
MIN_OVERLAP_SAMPLES = 100
#: Cell keys: y cell * KEY_STRIDE + x cell, both shifted to be positive.
KEY_STRIDE = 1 << 31
KEY_OFFSET = 1 << 30


@dataclass(frozen=True)
class SkyStatistic:
    """The sky statistic of a set of pixel values (module docstring)."""

    skystat: str = "mode"
    lower: float | None = None
    upper: float | None = None
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0

    def __call__(self, values):
        """The sky level of ``values`` (NaN when none is usable)."""
        values = np.asarray(values, dtype=float).ravel()
        keep = np.isfinite(values)
        if self.lower is not None:
            keep &= values >= self.lower
        if self.upper is not None:
            keep &= values <= self.upper
        values = values[keep]
        for _ in range(self.nclip):
            if values.size < 2:
                break
            mean, std = values.mean(), values.std()
            clipped = values[(values >= mean - self.lsigma * std) & (values <= mean + self.usigma * std)]
            if clipped.size == values.size:
                break
            values = clipped
        if values.size == 0:
            return float("nan")
        if self.skystat == "mean":
            return float(values.mean())
        if self.skystat == "median":
            return float(np.median(values))
        if self.skystat == "mode":
            return float(3.0 * np.median(values) - 2.0 * values.mean())
        raise ValueError(f"skystat {self.skystat!r} is not mode, median or mean")


@dataclass(frozen=True)
class FrameSamples:
    """A frame's usable pixel values sampled on the common grid, and the grid cell of each."""

    cells: np.ndarray
    values: np.ndarray


def frame_samples(data, usable, pixel_to_grid, stride):
    """FrameSamples of ``data`` (only ``usable`` pixels) every ``stride`` pixels; ``pixel_to_grid(x, y)`` maps
    0-based pixel coordinates of this frame to those of the common grid."""
    ny, nx = data.shape
    y, x = np.mgrid[0:ny:stride, 0:nx:stride]
    keep = usable[y, x] & np.isfinite(data[y, x])
    x, y = x[keep], y[keep]
    grid_x, grid_y = pixel_to_grid(x.astype(float), y.astype(float))
    cell_x = np.floor(np.asarray(grid_x) / stride).astype(np.int64) + KEY_OFFSET
    cell_y = np.floor(np.asarray(grid_y) / stride).astype(np.int64) + KEY_OFFSET
    return FrameSamples(cell_y * KEY_STRIDE + cell_x, data[y, x].astype(float))


def pair_differences(samples, statistic):
    """[(i, j, d_ij, w_ij)] of the overlapping pairs of ``samples`` (a FrameSamples per frame)."""
    pairs = []
    for i in range(len(samples)):
        for j in range(i + 1, len(samples)):
            in_i = np.isin(samples[i].cells, samples[j].cells)
            in_j = np.isin(samples[j].cells, samples[i].cells)
            weight = min(int(in_i.sum()), int(in_j.sum()))
            if weight < MIN_OVERLAP_SAMPLES:
                continue
            difference = statistic(samples[i].values[in_i]) - statistic(samples[j].values[in_j])
            if np.isfinite(difference):
                pairs.append((i, j, difference, weight))
    return pairs


def _groups(n_frames, pairs):
    """The groups of frames connected by ``pairs``, each a sorted list of indices."""
    parent = list(range(n_frames))

    def root(index):
        while parent[index] != index:
            index = parent[index]
        return index

    for i, j, *_ in pairs:
        parent[root(i)] = root(j)
    groups = {}
    for index in range(n_frames):
        groups.setdefault(root(index), []).append(index)
    return list(groups.values())


def match_levels(n_frames, pairs, exposures=None):
    """Levels L (lowest 0 in each group of overlapping frames) that best fit the pair differences ``pairs``
    [(i, j, d_ij, w_ij)], and the groups; a frame that overlaps none is a group of its own, level 0. Frames of
    equal ``exposures`` entry (hashable, one per frame; default all different) share one level."""
    keys = list(range(n_frames)) if exposures is None else list(exposures)
    index_of = {key: position for position, key in enumerate(dict.fromkeys(keys))}
    level_of = np.array([index_of[key] for key in keys])
    n_levels = len(index_of)
    exposure_pairs = [(level_of[i], level_of[j], d, w) for i, j, d, w in pairs if level_of[i] != level_of[j]]
    rows, targets, weights = [], [], []
    for i, j, difference, weight in exposure_pairs:
        row = np.zeros(n_levels)
        row[i], row[j] = 1.0, -1.0
        rows.append(row)
        targets.append(difference)
        weights.append(np.sqrt(weight))
    level_groups = _groups(n_levels, exposure_pairs)
    for group in level_groups:  # each group's levels are free up to a constant: fix their sum
        row = np.zeros(n_levels)
        row[group] = 1.0
        rows.append(row)
        targets.append(0.0)
        weights.append(1.0)
    design = np.asarray(rows) * np.asarray(weights)[:, None]
    levels, *_ = np.linalg.lstsq(design, np.asarray(targets) * np.asarray(weights), rcond=None)
    for group in level_groups:
        levels[group] -= levels[group].min()
    groups = [sorted(np.flatnonzero(np.isin(level_of, group)).tolist()) for group in level_groups]
    return levels[level_of], groups
