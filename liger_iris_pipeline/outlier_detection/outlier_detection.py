"""Outliers against the other frames of a dither (plain numpy/scipy), jwst's imaging algorithm:

1. each frame drizzled alone onto the mosaic grid; its pixels with weight below ``maskpt`` times the frame's
   typical weight (3-sigma-clipped mean of its non-zero weights) set to NaN;
2. the median of those images, pixel by pixel, ignoring NaN (``median_in_sections``: from files on disk, a band of
   rows at a time, so memory does not grow with the number of frames);
3. the median blotted (interpolated) back to each frame's pixels, B, in DN/s per input pixel;
4. a pixel is an outlier when (``outlier_mask``), with D = abs(SCI - B - background) and
   dB = max abs(B - B_neighbour) over the 4 neighbours (the blot's local derivative: its interpolation error on
   steep profiles),

       D > scale2 dB + snr2 ERR   and   some pixel of its 3 x 3 neighbourhood has D > scale1 dB + snr1 ERR

   (jwst's defaults snr = 5.0 4.0, scale = 1.2 0.7: a strong detection flags its weaker neighbours too).
   jwst combines the two masks as ``count & mask2`` on the integer neighbourhood count, which keeps only odd
   counts; here any count >= 1 does, as the comment there intends.
"""

import numba
import numpy as np

from ..kernels import insertion_sort

__all__ = ["blot_derivative", "median_in_sections", "outlier_mask", "weight_threshold"]

#: Bytes of frame data ``median_in_sections`` reads at once (all frames' rows of one band).
MEDIAN_SECTION_BYTES = 64 * 2**20


def weight_threshold(weights, maskpt, sigma=3.0, max_iterations=5):
    """``maskpt`` times the ``sigma``-clipped mean of the positive finite ``weights`` (0 if there are none).

    astropy's ``sigma_clip`` with its defaults (centre the median, width the standard deviation, at most
    ``max_iterations`` passes that keep the values within centre +- sigma width of those kept before), made on
    the values sorted once: each pass then keeps a contiguous slice, whose median is read off and whose
    standard deviation is one pass over it (float32 pairwise sums, as astropy).
    """
    values = np.sort(weights[np.isfinite(weights) & (weights > 0)])
    if values.size == 0:
        return 0.0
    start, stop = 0, values.size
    for _ in range(max_iterations):
        kept = values[start:stop]
        middle = kept.size // 2
        centre = float(kept[middle]) if kept.size % 2 else (float(kept[middle - 1]) + float(kept[middle])) / 2.0
        width = sigma * float(np.std(kept))
        low = start + int(np.searchsorted(kept, _float32_at_or_above(centre - width), side="left"))
        high = start + int(np.searchsorted(kept, _float32_at_or_below(centre + width), side="right"))
        if (low, high) == (start, stop):
            break
        start, stop = low, high
    return float(maskpt * np.mean(values[start:stop], dtype=np.float64))


def _float32_at_or_above(bound):
    """The smallest float32 >= ``bound``: float32 values x >= it exactly when x >= ``bound`` (a search with a
    float32 key keeps numpy from converting the whole array to float64)."""
    key = np.float32(bound)
    return np.nextafter(key, np.float32(np.inf)) if key < bound else key


def _float32_at_or_below(bound):
    """The largest float32 <= ``bound``."""
    key = np.float32(bound)
    return np.nextafter(key, np.float32(-np.inf)) if key > bound else key


def median_in_sections(images, out=None, section_bytes=MEDIAN_SECTION_BYTES):
    """The NaN-ignoring median over ``images`` (equal-shape 2-D arrays, typically memory-mapped files), read
    in bands of rows that hold at most ``section_bytes`` together; NaN where every image is NaN (as
    ``np.nanmedian``: the middle value of a pixel's finite values, or the mean of the two middle ones)."""
    ny, nx = images[0].shape
    out = np.empty((ny, nx), np.float32) if out is None else out
    rows = max(1, section_bytes // (len(images) * nx * 4))
    for start in range(0, ny, rows):
        band = np.stack([image[start : start + rows] for image in images]).astype(np.float32, copy=False)
        _nanmedian_of_band(band, out[start : start + rows])
    return out


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _nanmedian_of_band(band, out):
    """out[y, x] = the median of the finite band[:, y, x] (NaN if none), in float32."""
    for y in numba.prange(band.shape[1]):
        values = np.empty(band.shape[0], np.float32)
        for x in range(band.shape[2]):
            count = 0
            for k in range(band.shape[0]):
                if not np.isnan(band[k, y, x]):
                    values[count] = band[k, y, x]
                    count += 1
            if count == 0:
                out[y, x] = np.nan
                continue
            insertion_sort(values, count)
            half = count // 2
            out[y, x] = values[half] if count % 2 else (values[half - 1] + values[half]) * np.float32(0.5)


def blot_derivative(blot):
    """max abs(B - B_neighbour) over the 4 nearest neighbours (an edge pixel compares with those it has); NaN
    where B or a neighbour is NaN."""
    derivative = np.empty_like(blot)
    _blot_derivative(blot, derivative)
    return derivative


@numba.njit(inline="always")
def _derivative_at(blot, y, x):
    """blot_derivative at one pixel (an edge pixel's missing neighbour is itself: a difference of 0)."""
    centre = blot[y, x]
    ny, nx = blot.shape
    largest = abs(centre - blot[max(y - 1, 0), x])
    for neighbour in (blot[min(y + 1, ny - 1), x], blot[y, max(x - 1, 0)], blot[y, min(x + 1, nx - 1)]):
        step = abs(centre - neighbour)
        if np.isnan(step) or step > largest:  # NaN wins, as in np.max
            largest = step
    return largest


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _blot_derivative(blot, out):
    for y in numba.prange(blot.shape[0]):
        for x in range(blot.shape[1]):
            out[y, x] = _derivative_at(blot, y, x)


def outlier_mask(data, blot, err, snr=(5.0, 4.0), scale=(1.2, 0.7), background=0.0):
    """Boolean map of the outliers of frame ``data`` (ERR ``err``) against the blotted median ``blot``.

    Pixels where ``blot`` is NaN (no median there) are never outliers; a NaN ``err`` counts as 0, as in jwst.
    """
    dtype = np.result_type(data, blot, err)
    data, blot, err = (np.asarray(array, dtype) for array in (data, blot, err))
    strong, weak = np.empty(data.shape, bool), np.empty(data.shape, bool)
    constants = (dtype.type(value) for value in (background, *snr, *scale, 0.0, np.finfo(dtype).max))
    _detections(data, blot, err, *constants, strong, weak)
    mask = np.empty(data.shape, bool)
    _weak_near_strong(strong, weak, mask)
    return mask


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _detections(data, blot, err, background, snr_1, snr_2, scale_1, scale_2, zero, largest, strong, weak):
    """strong (weak) where D = abs(data - blot - background) > scale_1 dB + snr_1 ERR (scale_2, snr_2), with
    dB = blot_derivative and a NaN ERR as ``zero``, an infinite one as +-``largest`` (as np.nan_to_num); all in
    the arrays' type."""
    for y in numba.prange(data.shape[0]):
        for x in range(data.shape[1]):
            difference = abs(data[y, x] - blot[y, x] - background)
            derivative = _derivative_at(blot, y, x)
            noise = err[y, x]
            if np.isnan(noise):
                noise = zero
            elif np.isinf(noise):
                noise = largest if noise > 0 else -largest
            strong[y, x] = difference > scale_1 * derivative + snr_1 * noise
            weak[y, x] = difference > scale_2 * derivative + snr_2 * noise


@numba.njit(parallel=True, cache=True)
def _weak_near_strong(strong, weak, mask):
    """mask = weak and strong somewhere in the pixel's 3 x 3 neighbourhood (the part inside the image)."""
    ny, nx = strong.shape
    for y in numba.prange(ny):
        for x in range(nx):
            found = False
            if weak[y, x]:
                for j in range(max(y - 1, 0), min(y + 2, ny)):
                    for i in range(max(x - 1, 0), min(x + 2, nx)):
                        found = found or strong[j, i]
            mask[y, x] = found
