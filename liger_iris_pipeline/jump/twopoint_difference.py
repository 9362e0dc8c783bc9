"""Jump (cosmic ray) detection in a ramp by the two-point difference method, as stcal's ``twopoint``.

Per pixel, in electrons (group values times the gain g), the absolute first differences of consecutive
groups of all integrations, d_k = abs(SCI[g + 1] - SCI[g]) g, leaving out any pair with a SATURATED or
DO_NOT_USE group. With n usable differences:

    m     = median of the d_k, without the largest one when n >= 4 (the minimum when n == 2; their
            common value when all are equal)
    sigma = sqrt(|m| + (R g)**2 / NFRAMES)        R: CDS read noise (DN), so (R g)**2 / NFRAMES is the
                                                  read-noise variance of a difference of two groups
    r_k   = |d_k - m| / sigma

If the largest r_k exceeds the threshold (``rejection_threshold`` for n >= 4, ``three_group_threshold``
for n == 3, ``two_group_threshold`` for n == 2), the later group of that difference gets JUMP_DET, the
difference is dropped and the pixel is searched again, until no difference exceeds the threshold or fewer
than two remain. Pixels with fewer than two usable differences are not searched.

Neighbours (``flag_jump_neighbours``, as stcal's flag_4_neighbors), for every group with JUMP_DET and the
difference D ending on it:

    D_k = (SCI[g + 1] - SCI[g]) g  signed, NaN where a group is SATURATED or DO_NOT_USE
    M   = median of the pixel's D_k over all integrations (jumps included)
    r   = abs(D - M) / sqrt(abs(M) + (R g)**2 / NFRAMES)

If min_jump_to_flag_neighbors < r < max_jump_to_flag_neighbors, the four pixels beside it (x +- 1, y +- 1)
get JUMP_DET in that group, unless it is SATURATED or DO_NOT_USE there.

Speed: a pixel with no unusable group and finite values is first tested on the vectorised path
(``kernels``): its differences sorted by a sorting network give m, and the largest r_k is that of the
smallest or largest difference. Only pixels whose largest r_k exceeds the threshold (a jump), and pixels
with unusable groups, are searched one by one; the result is the same.
"""

import math
import warnings

import numba
import numpy as np

from ..dqflags import pixel
from ..kernels import CHUNK, insertion_sort, sort_columns, sorting_network

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
        if count == 0:  # all equal
            return largest
    half = count // 2
    if count % 2:
        return work[half]
    return (work[half - 1] + work[half]) * np.float32(0.5)


@numba.njit(cache=True, error_model="numpy")
def _threshold(usable, thresholds):
    return thresholds[0] if usable >= 4 else thresholds[1] if usable == 3 else thresholds[2]


@numba.njit(cache=True, error_model="numpy")
def _search_pixel(data, groupdq, y, x, gain, read_variance, thresholds, diffs, work):
    """Search one pixel for jumps and flag them in ``groupdq``; returns the number flagged."""
    nints, ngroups = data.shape[0], data.shape[1]
    per_integration = ngroups - 1
    n_diffs = nints * per_integration
    usable = 0
    for i in range(nints):
        for k in range(per_integration):
            index = i * per_integration + k
            if (groupdq[i, k, y, x] | groupdq[i, k + 1, y, x]) & UNUSABLE:
                diffs[index] = np.nan
            else:
                diffs[index] = abs(data[i, k + 1, y, x] * gain - data[i, k, y, x] * gain)
                if not math.isnan(diffs[index]):
                    usable += 1
    flagged = 0
    while usable >= 2:
        median = _clipped_median(diffs, n_diffs, work)
        sigma = math.sqrt(abs(np.float64(median)) + read_variance)
        if not sigma > 0:
            break
        largest = -1.0
        for index in range(n_diffs):
            if not math.isnan(diffs[index]):
                largest = max(largest, abs(diffs[index] - median) / sigma)
        if not largest > _threshold(usable, thresholds):
            break
        for index in range(n_diffs):
            if not math.isnan(diffs[index]) and abs(diffs[index] - median) / sigma == largest:
                i, k = divmod(index, per_integration)
                groupdq[i, k + 1, y, x] |= JUMP
                diffs[index] = np.nan
                usable -= 1
                flagged += 1
    return flagged


@numba.njit(cache=True, error_model="numpy")
def _screen_chunk(data, groupdq, y, x0, width, gain, read_variance, thresholds, pairs, buffer, searched):
    """Vectorised test of the pixels x0 .. x0 + width of row y: ``searched[x]`` is False where the pixel has
    no unusable group and no difference above the threshold (nothing to flag), True where it must be
    searched one by one."""
    nints, ngroups = data.shape[0], data.shape[1]
    per_integration = ngroups - 1
    n_diffs = nints * per_integration
    for x in range(width):
        searched[x] = False
    for i in range(nints):
        for k in range(per_integration):
            row = buffer[i * per_integration + k]
            before, after = data[i, k, y, x0 : x0 + width], data[i, k + 1, y, x0 : x0 + width]
            flags_before, flags_after = groupdq[i, k, y, x0 : x0 + width], groupdq[i, k + 1, y, x0 : x0 + width]
            for x in range(width):
                g = gain[x0 + x]
                difference = abs(after[x] * g - before[x] * g)
                unusable = ((flags_before[x] | flags_after[x]) & UNUSABLE) != 0
                searched[x] |= unusable | (difference != difference)  # NaN difference: search it
                row[x] = np.float32(0.0) if unusable or difference != difference else difference
    sort_columns(buffer, width, pairs)
    smallest, largest = buffer[0], buffer[n_diffs - 1]
    threshold = _threshold(n_diffs, thresholds)
    for x in range(width):
        count = n_diffs
        if n_diffs == 2:
            median = smallest[x]
        else:
            if n_diffs >= 4:
                count = 0
                for k in range(n_diffs):
                    count += buffer[k, x] < largest[x]
            half = count // 2
            if count == 0:  # all equal
                median = largest[x]
            elif count % 2:
                median = buffer[half, x]
            else:
                median = (buffer[half - 1, x] + buffer[half, x]) * np.float32(0.5)
        sigma = math.sqrt(abs(np.float64(median)) + read_variance[x0 + x])
        spread = max(abs(largest[x] - median), abs(smallest[x] - median)) / sigma
        searched[x] |= sigma > 0 and spread > threshold


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _find_jumps(data, groupdq, gain, readnoise, nframes, thresholds, pairs, flagged):
    nints, ngroups, ny, nx = data.shape
    n_diffs = nints * (ngroups - 1)
    if n_diffs < 2:
        return
    for y in numba.prange(ny):
        diffs = np.empty(n_diffs, np.float32)
        work = np.empty(n_diffs, np.float32)
        buffer = np.empty((n_diffs, CHUNK), np.float32)
        searched = np.empty(CHUNK, np.bool_)
        row_gain = gain[y]
        read_variance = np.empty(nx, np.float64)
        for x in range(nx):
            noise = readnoise[y, x] * row_gain[x]
            read_variance[x] = np.float64(noise * noise) / nframes
        for x0 in range(0, nx, CHUNK):
            width = min(CHUNK, nx - x0)
            _screen_chunk(data, groupdq, y, x0, width, row_gain, read_variance, thresholds, pairs, buffer, searched)
            for x in range(width):
                if searched[x]:
                    flagged[y] += _search_pixel(
                        data, groupdq, y, x0 + x, row_gain[x0 + x], read_variance[x0 + x], thresholds, diffs, work
                    )


def find_jumps(
    data, groupdq, gain, readnoise, nframes, rejection_threshold=4.0, three_group_threshold=5.0, two_group_threshold=6.0
):
    """Flag jumps in ``groupdq`` (in place) of ``data`` [nints, ngroups, ny, nx] (DN) with the ``gain``
    (e-/DN) and CDS ``readnoise`` (DN) maps; returns the number of jumps flagged."""
    thresholds = np.array([rejection_threshold, three_group_threshold, two_group_threshold], np.float64)
    flagged = np.zeros(data.shape[-2], np.int64)
    pairs = sorting_network(max(data.shape[0] * (data.shape[1] - 1), 1))
    _find_jumps(
        data, groupdq, np.asarray(gain, np.float32), np.asarray(readnoise, np.float32), int(nframes), thresholds,
        pairs, flagged,
    )
    return int(flagged.sum())


def flag_jump_neighbours(data, groupdq, gain, readnoise, nframes, min_jump, max_jump):
    """Flag the four neighbours of the jumps in ``groupdq`` (in place) whose ratio lies between ``min_jump`` and
    ``max_jump`` (module docstring); only the pixels with a jump are computed. Returns the number of group
    flags added."""
    ys, xs = np.nonzero(np.any(groupdq[:, 1:] & JUMP, axis=(0, 1)))
    if ys.size == 0:
        return 0
    pixel_gain = gain[ys, xs].astype(np.float32)
    values = data[:, :, ys, xs] * pixel_gain  # (nints, ngroups, n): electrons
    values[(groupdq[:, :, ys, xs] & UNUSABLE) != 0] = np.nan
    differences = np.diff(values, axis=1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels with every group unusable
        median = np.nanmedian(differences, axis=(0, 1))
        noise = readnoise[ys, xs] * pixel_gain
        sigma = np.sqrt(np.abs(median) + noise * noise / np.float32(nframes))
        ratio = np.abs(differences - median) / sigma
        spreads = (ratio > min_jump) & (ratio < max_jump) & ((groupdq[:, 1:, ys, xs] & JUMP) != 0)
    integration, group, index = np.nonzero(spreads)
    group = group + 1
    ny, nx = groupdq.shape[-2:]
    neighbours = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        y, x = ys[index] + dy, xs[index] + dx
        inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
        neighbours.append(np.ravel_multi_index((integration[inside], group[inside], y[inside], x[inside]), groupdq.shape))
    target = np.unravel_index(np.unique(np.concatenate(neighbours)), groupdq.shape)  # each neighbour once
    newly_flagged = (groupdq[target] & (UNUSABLE | JUMP)) == 0
    groupdq[tuple(axis[newly_flagged] for axis in target)] |= JUMP
    return int(np.count_nonzero(newly_flagged))
