"""Ramp fitting: the count rate of every pixel from its groups, by optimally weighted least squares (as
stcal's OLS / OLS_C), for the read modes CDS, MCDS (Fowler) and UTR alike.

Units: SCI in DN, gain g in e-/DN, R the CDS read noise (DN), TGROUP t. The read noise of one group (a mean
of NFRAMES reads) in electrons is r = R g / sqrt(2 NFRAMES).

Segments. In each integration, a segment is a run of consecutive groups with no flag, which may start with
the group flagged JUMP_DET alone (the jump sits between the segments). SATURATED and DO_NOT_USE groups end a
segment. If any segment has two or more groups, one-group segments are dropped; otherwise only the first
one-group segment is kept. An integration whose first group is saturated has no rate (SATURATED |
DO_NOT_USE).

Median rate m (DN/s, for the Poisson variance): per integration, the median of the first differences of
usable groups divided by t (a difference ending on a JUMP_DET group is left out); a ramp whose only good
group is the first uses SCI[0] / t1 with t1 = (NFRAMES + 1) TFRAME / 2; averaged over integrations.

Fit of a segment of n groups starting at group s:

- n >= 3: weighted least squares of SCI against the group number x, weights w_j = abs((j - c) / c)**P / r**2
  (c = (n - 1) / 2), where the power P grows with the segment's signal-to-noise
  S = (SCI_end - SCI_start) g / sqrt(r**2 + (SCI_end - SCI_start) g): P = 0, 0.4, 1, 3, 6, 10 for
  S < 5, 10, 20, 50, 100, above (Fixsen et al. 2000). slope = (W Sxy - Sx Sy) / (W Sxx - Sx**2) / t;
  Poisson variance m / (t g (n - 1)), read-noise variance 12 r**2 / ((n**3 - n) t**2 g**2).
- n == 2: slope = (SCI[s + 1] - SCI[s]) / t; variances m / (t g) and 2 r**2 / (t g)**2.
- n == 1: slope = SCI[s] / t' with t' = t1 for the first group alone, else t; variances m / (t' g) and
  2 r**2 / (t' g)**2.

Combination over the segments of all integrations: rate = sum(slope / var_r) / sum(1 / var_r) (weights by
read noise only, as stcal since JP-4318), var_poisson = 1 / sum(1 / var_p), var_rnoise = 1 / sum(1 / var_r)
(each set to 0 when >= 1e6), ERR = sqrt(var_poisson + var_rnoise): the frame's VAR_POISSON and VAR_RNOISE
(DN/s squared), as stcal's image var_poisson and var_rnoise.

suppress_one_group (as stcal's and jwst's default): an integration with exactly one unflagged group (any flag
but PERSISTENCE counts) gets DO_NOT_USE on all its groups, so it gives no rate, rather than a rate from that
one group (the first group alone, with t1, when it is the first).

DQ: PIXELDQ, | JUMP_DET if a group has a jump, | SATURATED if a group is saturated, | DO_NOT_USE |
NO_GAIN_VALUE where the gain is not positive. A pixel with no usable integration (first group saturated in
all, or every group flagged) gets DO_NOT_USE (and SATURATED if saturated): its rate is NaN and ERR and the
variances 0, as are those of every pixel whose PIXELDQ has DO_NOT_USE.

Speed: pixels with no flagged group, finite values and a positive gain (nearly all) are fitted on a
vectorised path (``kernels``): a row chunk at a time, medians by a sorting network and the weighted sums a
group at a time, with the arithmetic of the per-pixel fit in the same order, so the results are the same.
The per-pixel fit (``_fit_pixel``) takes the others.
"""

import math
from typing import NamedTuple

import numba
import numpy as np

from ..dqflags import pixel
from ..kernels import CHUNK, insertion_sort, sort_columns, sorting_network

DO_NOT_USE = pixel["DO_NOT_USE"]
SATURATED = pixel["SATURATED"]
JUMP_DET = pixel["JUMP_DET"]
NO_GAIN_VALUE = pixel["NO_GAIN_VALUE"]
PERSISTENCE = pixel["PERSISTENCE"]
LARGE_VARIANCE = 1.0e6
#: Signal-to-noise bounds and the weighting power below each (above the last: 10).
SNR_BOUNDS = (5.0, 10.0, 20.0, 50.0, 100.0)
SNR_POWERS = (0.0, 0.4, 1.0, 3.0, 6.0, 10.0)


def weight_table(ngroups):
    """[power, n, j]: the weight abs((j - c) / c)**P of group j of an n-group segment for each power P, computed
    once (in float32, as stcal's powf) rather than per pixel."""
    table = np.zeros((len(SNR_POWERS), ngroups + 1, ngroups))
    for length in range(3, ngroups + 1):
        middle = (length - 1) / 2.0
        distance = np.abs((np.arange(length) - middle) * (1.0 / middle)).astype(np.float32)
        for index, power in enumerate(SNR_POWERS):
            table[index, length, :length] = distance ** np.float32(power)
    return table


@numba.njit(cache=True, error_model="numpy")
def _power_index(snr):
    """Index in SNR_POWERS of the weighting power for a segment's signal-to-noise ``snr``."""
    for index, bound in enumerate(SNR_BOUNDS):
        if snr < bound:
            return index
    return len(SNR_BOUNDS)


@numba.njit(cache=True, error_model="numpy")
def _sorted_median(values, count):
    """Median of ``values[:count]`` (count >= 1), sorting them in place."""
    insertion_sort(values, count)
    half = count // 2
    return values[half] if count % 2 else (values[half - 1] + values[half]) / 2.0


@numba.njit(cache=True, error_model="numpy")
def _median_rate(values, flags, nints, ngroups, group_time, first_group_time, work):
    """Mean over integrations of the median first-difference rate (module docstring), 0 when unknown."""
    total = 0.0
    for i in range(nints):
        good = 0
        for g in range(ngroups):
            good += flags[i, g] == 0
        if good == 1 and flags[i, 0] == 0:
            rate = values[i, 0] / first_group_time
        else:
            first = np.nan if flags[i, 0] & DO_NOT_USE else values[i, 0] / group_time
            count = 0
            for k in range(ngroups - 1):
                if flags[i, k + 1] & JUMP_DET or (flags[i, k] | flags[i, k + 1]) & DO_NOT_USE:
                    continue
                difference = values[i, k + 1] / group_time - values[i, k] / group_time
                if not math.isnan(difference):
                    work[count] = difference
                    count += 1
            rate = first if count == 0 else _sorted_median(work, count)
        total += 0.0 if math.isnan(rate) else rate
    return total / nints


@numba.njit(cache=True, error_model="numpy")
def _segments(flags_row, ngroups, starts, lengths):
    """Fill ``starts``/``lengths`` with the fitted segments of one integration; returns their number."""
    count = 0
    start = -1
    for g in range(ngroups + 1):
        good = g < ngroups and flags_row[g] == 0
        if good and start < 0:
            start = g - 1 if g > 0 and flags_row[g - 1] == JUMP_DET else g
        elif not good and start >= 0:
            starts[count], lengths[count] = start, g - start
            count += 1
            start = -1
    longest = 0
    for s in range(count):
        longest = max(longest, lengths[s])
    if count < 2:
        return count
    if longest < 2:
        lengths[0] = 1
        return 1
    kept = 0
    for s in range(count):
        if lengths[s] > 1:
            starts[kept], lengths[kept] = starts[s], lengths[s]
            kept += 1
    return kept


@numba.njit(cache=True, error_model="numpy")
def _fit_segment(values, start, length, gain, noise, group_time, timing, median_rate, weights):
    """Slope (DN/s), Poisson and read-noise variances of one segment (module docstring)."""
    poisson_rate = median_rate if median_rate > 0 else 0.0
    if length == 1:
        slope = values[start] / timing
        var_p = poisson_rate / (timing * gain)
        scaled = noise / timing
        return slope, var_p, 12.0 * scaled * scaled / (6.0 * gain * gain)
    if length == 2:
        slope = (values[start + 1] - values[start]) / group_time
        var_p = poisson_rate / (group_time * gain)
        scaled = noise / group_time
        return slope, var_p, 12.0 * scaled * scaled / (6.0 * gain * gain)
    signal = values[start + length - 1] - values[start]
    denominator = noise * noise + signal * gain
    snr = 0.0
    if denominator > 0 and gain != 0:
        snr = max(signal * gain / math.sqrt(denominator), 0.0)
    segment_weights = weights[_power_index(snr), length]
    inverse_noise2 = 1.0 / (noise * noise)
    sum_w = sum_x = sum_xx = sum_y = sum_xy = 0.0
    for j in range(length):
        weight = segment_weights[j] * inverse_noise2
        x = np.float64(j + start)
        y = values[start + j]
        x_weight = x * weight
        sum_w += weight
        sum_x += x_weight
        sum_xx += x * x_weight
        sum_y += y * weight
        sum_xy += y * x_weight
    slope = (sum_w * sum_xy - sum_x * sum_y) / (sum_w * sum_xx - sum_x * sum_x) / group_time
    var_p = poisson_rate / (group_time * gain * (length - 1))
    var_r = 0.0
    if gain > 0:
        scaled = noise / group_time
        var_r = 12.0 * scaled * scaled / ((length**3 - length) * gain * gain)
    return slope, var_p, var_r


@numba.njit(cache=True, error_model="numpy")
def _fit_pixel(data, groupdq, pixeldq, y, x, pixel_gain, noise, nframes, frame_time, group_time, weights, scratch):
    """Rate, ERR, DQ, Poisson and read-noise variances of one pixel, whatever its flags (module docstring)."""
    values, flags, work, starts, lengths = scratch
    nints, ngroups = data.shape[0], data.shape[1]
    first_group_time = (nframes + 1.0) * frame_time / 2.0
    flag = pixeldq[y, x]
    if not pixel_gain > 0:
        flag |= DO_NOT_USE | NO_GAIN_VALUE
    partly_saturated = False
    for i in range(nints):
        for g in range(ngroups):
            flags[i, g] = groupdq[i, g, y, x]
            saturated = flags[i, g] & SATURATED
            values[i, g] = np.nan if saturated else data[i, g, y, x]
            partly_saturated |= saturated != 0
            if flags[i, g] & JUMP_DET:
                flag |= JUMP_DET
    median_rate = _median_rate(values, flags, nints, ngroups, group_time, first_group_time, work)
    unusable = saturated_integrations = 0
    inverse_var_p = inverse_var_r = weighted_slopes = 0.0
    for i in range(nints):
        integration_flag = flag
        bad_groups = 0
        all_saturated = True
        for g in range(ngroups):
            bad_groups += (flags[i, g] & (DO_NOT_USE | SATURATED)) != 0
            all_saturated &= (flags[i, g] & SATURATED) != 0
        if flags[i, 0] & SATURATED:
            integration_flag |= DO_NOT_USE | SATURATED
        elif bad_groups == ngroups:
            integration_flag |= DO_NOT_USE | (SATURATED if all_saturated else 0)
        else:
            good = 0
            for g in range(ngroups):
                good += flags[i, g] == 0
            only_first = good == 1 and flags[i, 0] == 0
            for s in range(_segments(flags[i], ngroups, starts, lengths)):
                timing = first_group_time if only_first and lengths[s] == 1 else group_time
                slope, var_p, var_r = _fit_segment(
                    values[i], starts[s], lengths[s], pixel_gain, noise, group_time, timing, median_rate, weights
                )
                inverse_var_r += 1.0 / var_r
                if var_p > 0:
                    inverse_var_p += 1.0 / var_p
                weighted_slopes += slope / var_r
        unusable += (integration_flag & DO_NOT_USE) != 0
        saturated_integrations += (integration_flag & SATURATED) != 0
    if unusable == nints:
        flag |= DO_NOT_USE
    if saturated_integrations == nints:
        flag |= SATURATED
    rate, err, var_p, var_r = _combine(flag, weighted_slopes, inverse_var_p, inverse_var_r)
    if partly_saturated:
        flag |= SATURATED
    return rate, err, flag, var_p, var_r


@numba.njit(cache=True, error_model="numpy")
def _combine(flag, weighted_slopes, inverse_var_p, inverse_var_r):
    """Rate, ERR, Poisson and read-noise variances of a pixel from the sums over its segments (module docstring)."""
    var_p = 1.0 / inverse_var_p if inverse_var_p > 0 else 0.0
    if var_p >= LARGE_VARIANCE or var_p < 0:
        var_p = 0.0
    var_r = 1.0 / inverse_var_r if inverse_var_r > 0 else 0.0
    if var_r >= LARGE_VARIANCE:
        var_r = 0.0
    if flag & (DO_NOT_USE | SATURATED):
        return np.nan, 0.0, 0.0, 0.0
    return weighted_slopes * var_r, math.sqrt(var_p + var_r), var_p, var_r


@numba.njit(cache=True, error_model="numpy")
def _fit_clean_chunk(data, groupdq, pixeldq, y, x0, width, gain, noise, group_time, weights, pairs, buffers, out):
    """Vectorised fit of the pixels x0 .. x0 + width of row y as if none had a flag: ``_fit_pixel``'s
    arithmetic, in the same order, for pixels whose groups are all unflagged and finite and whose gain is
    positive (one segment per integration, no median to skip). Writes rate, ERR, DQ and variances of every pixel into
    ``out``; ``clean`` (the last buffer) tells which pixels were such: the others need ``_fit_pixel``."""
    nints, ngroups = data.shape[0], data.shape[1]
    diffs, sums, power, median_rate, inverse_var_p, inverse_var_r, weighted_slopes, clean = buffers
    sum_w, sum_x, sum_xx, sum_y, sum_xy = sums
    n_diffs = ngroups - 1
    for x in range(width):
        clean[x] = gain[x0 + x] > 0
        median_rate[x] = inverse_var_p[x] = inverse_var_r[x] = weighted_slopes[x] = 0.0
    for i in range(nints):
        for g in range(ngroups):
            values, flags = data[i, g, y, x0 : x0 + width], groupdq[i, g, y, x0 : x0 + width]
            for x in range(width):
                clean[x] &= (flags[x] == 0) & (abs(values[x]) < np.inf)
    # Median first-difference rate, averaged over the integrations (differences sorted by the network).
    for i in range(nints):
        for k in range(n_diffs):
            before, after, row = data[i, k, y, x0 : x0 + width], data[i, k + 1, y, x0 : x0 + width], diffs[k]
            for x in range(width):
                difference = np.float64(after[x]) / group_time - np.float64(before[x]) / group_time
                row[x] = difference if clean[x] else 0.0
        sort_columns(diffs, width, pairs)
        half = n_diffs // 2
        for x in range(width):
            median_rate[x] += diffs[half, x] if n_diffs % 2 else (diffs[half - 1, x] + diffs[half, x]) / 2.0
    for x in range(width):
        median_rate[x] /= nints
    for i in range(nints):
        first, last = data[i, 0, y, x0 : x0 + width], data[i, ngroups - 1, y, x0 : x0 + width]
        if ngroups > 2:
            # Weighting power of each pixel's segment, then the weighted sums over its groups.
            for x in range(width):
                signal = np.float64(last[x]) - np.float64(first[x])
                denominator = noise[x0 + x] * noise[x0 + x] + signal * gain[x0 + x]
                snr = max(signal * gain[x0 + x] / math.sqrt(denominator), 0.0) if denominator > 0 else 0.0
                index = 0
                for bound in SNR_BOUNDS:
                    index += not snr < bound
                power[x] = index
                sum_w[x] = sum_x[x] = sum_xx[x] = sum_y[x] = sum_xy[x] = 0.0
            for j in range(ngroups):
                values, position = data[i, j, y, x0 : x0 + width], np.float64(j)
                for x in range(width):
                    weight = weights[power[x], ngroups, j] * (1.0 / (noise[x0 + x] * noise[x0 + x]))
                    y_value = np.float64(values[x])
                    x_weight = position * weight
                    sum_w[x] += weight
                    sum_x[x] += x_weight
                    sum_xx[x] += position * x_weight
                    sum_y[x] += y_value * weight
                    sum_xy[x] += y_value * x_weight
        for x in range(width):
            pixel_gain = np.float64(gain[x0 + x])
            poisson_rate = median_rate[x] if median_rate[x] > 0 else 0.0
            scaled = noise[x0 + x] / group_time
            if ngroups == 2:
                slope = (np.float64(last[x]) - np.float64(first[x])) / group_time
                var_p = poisson_rate / (group_time * pixel_gain)
                var_r = 12.0 * scaled * scaled / (6.0 * pixel_gain * pixel_gain)
            else:
                slope = (sum_w[x] * sum_xy[x] - sum_x[x] * sum_y[x]) / (sum_w[x] * sum_xx[x] - sum_x[x] * sum_x[x])
                slope /= group_time
                var_p = poisson_rate / (group_time * pixel_gain * (ngroups - 1))
                var_r = 12.0 * scaled * scaled / ((ngroups**3 - ngroups) * pixel_gain * pixel_gain)
            inverse_var_r[x] += 1.0 / var_r
            if var_p > 0:
                inverse_var_p[x] += 1.0 / var_p
            weighted_slopes[x] += slope / var_r
    rate, err, dq, var_poisson, var_rnoise = out
    for x in range(width):
        flag = pixeldq[y, x0 + x]
        rate[x], err[x], var_poisson[x], var_rnoise[x] = _combine(
            flag, weighted_slopes[x], inverse_var_p[x], inverse_var_r[x]
        )
        dq[x] = flag


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _fit_ramps(data, groupdq, pixeldq, gain, readnoise, nframes, frame_time, group_time, weights, pairs, outputs):
    rate, err, dq, var_poisson, var_rnoise = outputs
    nints, ngroups, ny, nx = data.shape
    group_noise_factor = math.sqrt(2.0 * nframes)
    for y in numba.prange(ny):
        scratch = (
            np.empty((nints, ngroups), np.float64),
            np.empty((nints, ngroups), np.uint8),
            np.empty(ngroups, np.float64),
            np.empty(ngroups, np.int64),
            np.empty(ngroups, np.int64),
        )
        buffers = (
            np.empty((max(ngroups - 1, 1), CHUNK), np.float64),
            np.empty((5, CHUNK), np.float64),
            np.zeros(CHUNK, np.int64),
            np.empty(CHUNK, np.float64),
            np.empty(CHUNK, np.float64),
            np.empty(CHUNK, np.float64),
            np.empty(CHUNK, np.float64),
            np.empty(CHUNK, np.bool_),
        )
        clean = buffers[-1]
        row_gain = gain[y]
        noise = np.empty(nx, np.float64)
        for x in range(nx):
            noise[x] = np.float64(np.float32(readnoise[y, x] * (np.float64(row_gain[x]) / group_noise_factor)))
        for x0 in range(0, nx, CHUNK):
            width = min(CHUNK, nx - x0)
            out = (
                rate[y, x0 : x0 + width], err[y, x0 : x0 + width], dq[y, x0 : x0 + width],
                var_poisson[y, x0 : x0 + width], var_rnoise[y, x0 : x0 + width],
            )
            if ngroups >= 2:
                _fit_clean_chunk(
                    data, groupdq, pixeldq, y, x0, width, row_gain, noise, group_time, weights, pairs, buffers, out
                )
            else:
                clean[:width] = False
            for x in range(width):
                if not clean[x]:
                    (
                        rate[y, x0 + x], err[y, x0 + x], dq[y, x0 + x], var_poisson[y, x0 + x], var_rnoise[y, x0 + x]
                    ) = _fit_pixel(
                        data, groupdq, pixeldq, y, x0 + x, np.float64(row_gain[x0 + x]), noise[x0 + x], nframes,
                        frame_time, group_time, weights, scratch,
                    )


class RampFit(NamedTuple):
    """The count-rate frame of a ramp: rate and ERR (DN/s), DQ, and the variances (DN/s squared), all [ny, nx]."""

    rate: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray


def suppress_one_group_ramps(groupdq):
    """``groupdq`` with DO_NOT_USE on every group of the integrations that have exactly one unflagged group
    (PERSISTENCE aside), as stcal's suppress_one_group; the array itself when there is none (no copy)."""
    one_good_group = np.count_nonzero((groupdq & np.uint8(~PERSISTENCE & 0xFF)) == 0, axis=1) == 1
    if not one_good_group.any():
        return groupdq
    return groupdq | np.where(one_good_group[:, None], np.uint8(DO_NOT_USE), np.uint8(0))


def fit_ramps(data, groupdq, pixeldq, gain, readnoise, nframes, frame_time, group_time, suppress_one_group=True):
    """RampFit of the ramps ``data`` [nints, ngroups, ny, nx] (DN) with their ``groupdq``/``pixeldq``, the
    ``gain`` (e-/DN) and CDS ``readnoise`` (DN) maps and the timing; ``suppress_one_group`` as the module
    docstring (ignored for one-group ramps, as stcal). ``groupdq`` is not changed."""
    shape = data.shape[-2:]
    outputs = RampFit(
        np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty(shape, np.uint32),
        np.empty(shape, np.float32), np.empty(shape, np.float32),
    )
    if suppress_one_group and data.shape[1] > 1:
        groupdq = suppress_one_group_ramps(groupdq)
    _fit_ramps(
        data, groupdq, pixeldq, np.asarray(gain, np.float32), np.asarray(readnoise, np.float32),
        int(nframes), float(frame_time), float(group_time), weight_table(data.shape[1]),
        sorting_network(max(data.shape[1] - 1, 1)), tuple(outputs),
    )
    return outputs
