"""Jump (cosmic ray) detection in a ramp by the two-point difference method, as stcal's ``twopoint``.

Per pixel, in electrons (group values times the gain g), the absolute first differences of consecutive
groups of all integrations, d_k = abs(SCI[g + 1] - SCI[g]) g, leaving out any pair with a SATURATED or
DO_NOT_USE group. With n usable differences:

    m     = median of the d_k, without the largest one when n >= 4 (the minimum when n == 2)
    sigma = sqrt(|m| + (R g)**2 / NFRAMES)        R: CDS read noise (DN), so (R g)**2 / NFRAMES is the
                                                  read-noise variance of a difference of two groups
    r_k   = |d_k - m| / sigma

If the largest r_k exceeds the threshold (``rejection_threshold`` for n >= 4, ``three_group_threshold``
for n == 3, ``two_group_threshold`` for n == 2), the later group of that difference gets JUMP_DET, the
difference is dropped and the pixel is searched again, until no difference exceeds the threshold or fewer
than two remain. Pixels with fewer than two usable differences are not searched.
"""

import math

import numba
import numpy as np

from ..dqflags import pixel
from ..kernels import insertion_sort

JUMP = np.uint8(pixel["JUMP_DET"])
UNUSABLE = np.uint8(pixel["SATURATED"] | pixel["DO_NOT_USE"])


@numba.njit(cache=True, error_model="numpy")
def _clipped_median(values, n_values, work):
    """Median of the finite ``values[:n_values]`` without their largest when four or more (the minimum when
    two), in float32 like stcal; NaN with fewer than two."""
    count = 0
    for k in range(n_values):
        if not math.isnan(values[k]):
            work[count] = values[k]
            count += 1
    if count < 2:
        return np.float32(np.nan)
    insertion_sort(work, count)
    if count == 2:
        return work[0]
    if count >= 4:
        largest = work[count - 1]
        while count > 0 and work[count - 1] == largest:
            count -= 1
    half = count // 2
    if count % 2:
        return work[half]
    return (work[half - 1] + work[half]) * np.float32(0.5)


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _find_jumps(data, groupdq, gain, readnoise, nframes, thresholds, flagged):
    nints, ngroups, ny, nx = data.shape
    per_integration = ngroups - 1
    n_diffs = nints * per_integration
    for y in numba.prange(ny):
        diffs = np.empty(n_diffs, np.float32)
        work = np.empty(n_diffs, np.float32)
        for x in range(nx):
            g = gain[y, x]
            noise = readnoise[y, x] * g
            read_variance = np.float64(noise * noise) / nframes
            usable = 0
            for i in range(nints):
                for k in range(per_integration):
                    index = i * per_integration + k
                    if (groupdq[i, k, y, x] | groupdq[i, k + 1, y, x]) & UNUSABLE:
                        diffs[index] = np.nan
                    else:
                        diffs[index] = abs(data[i, k + 1, y, x] * g - data[i, k, y, x] * g)
                        if not math.isnan(diffs[index]):
                            usable += 1
            while usable >= 2:
                median = _clipped_median(diffs, n_diffs, work)
                sigma = math.sqrt(abs(np.float64(median)) + read_variance)
                if not sigma > 0:
                    break
                largest = -1.0
                for index in range(n_diffs):
                    if not math.isnan(diffs[index]):
                        largest = max(largest, abs(diffs[index] - median) / sigma)
                threshold = thresholds[0] if usable >= 4 else thresholds[1] if usable == 3 else thresholds[2]
                if not largest > threshold:
                    break
                for index in range(n_diffs):
                    if not math.isnan(diffs[index]) and abs(diffs[index] - median) / sigma == largest:
                        i, k = divmod(index, per_integration)
                        groupdq[i, k + 1, y, x] |= JUMP
                        diffs[index] = np.nan
                        usable -= 1
                        flagged[y] += 1


def find_jumps(
    data, groupdq, gain, readnoise, nframes, rejection_threshold=4.0, three_group_threshold=5.0, two_group_threshold=6.0
):
    """Flag jumps in ``groupdq`` (in place) of ``data`` [nints, ngroups, ny, nx] (DN) with the ``gain``
    (e-/DN) and CDS ``readnoise`` (DN) maps; returns the number of jumps flagged."""
    thresholds = np.array([rejection_threshold, three_group_threshold, two_group_threshold], np.float64)
    flagged = np.zeros(data.shape[-2], np.int64)
    _find_jumps(
        data, groupdq, np.asarray(gain, np.float32), np.asarray(readnoise, np.float32), int(nframes), thresholds, flagged
    )
    return int(flagged.sum())
