"""Numba helpers shared by the per-pixel kernels of the ramp algorithms (plain numpy/numba, no stpipe).

The ramp kernels work a detector row at a time. Pixels whose groups carry no flag (nearly all of them) go
through a vectorised path: their values for one row chunk sit in a [k, x] buffer, and a sorting network
(a fixed sequence of compare-exchanges, the same for every pixel) sorts each column without branches, so
the compiler applies every step to many pixels at once. The few pixels with flags take the scalar path.
"""

from functools import cache

import numba
import numpy as np

#: Pixels of a row handled together by the vectorised paths: their [k, x] buffers stay in the L1 cache.
CHUNK = 256


@numba.njit(cache=True, error_model="numpy")
def insertion_sort(values, count):
    """Sort ``values[:count]`` in place: the fastest way for the few groups or differences of one pixel."""
    for k in range(1, count):
        value = values[k]
        j = k - 1
        while j >= 0 and values[j] > value:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = value


@cache
def sorting_network(count):
    """Compare-exchange pairs (i < j) of Batcher's odd-even merge sort of ``count`` values, [n_pairs, 2].

    Applying ``(v[i], v[j]) = (min, max)`` for every pair in order sorts any ``count`` values: the network
    of the next power of two, without the pairs that touch positions past ``count`` (they would only
    compare with +inf padding and never move a value).
    """
    pairs = []
    size = 1
    while size < count:
        step = size
        while step >= 1:
            for start in range(step % size, count - step, 2 * step):
                for offset in range(min(step, count - start - step)):
                    low = start + offset
                    if low // (2 * size) == (low + step) // (2 * size):
                        pairs.append((low, low + step))
            step //= 2
        size *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@numba.njit(cache=True, error_model="numpy")
def sort_columns(buffer, width, pairs):
    """Sort each column ``buffer[:, x]`` (x < ``width``) in place with the compare-exchange ``pairs``.

    The values must not be NaN (a comparison with NaN would not order them).
    """
    for p in range(pairs.shape[0]):
        low, high = buffer[pairs[p, 0]], buffer[pairs[p, 1]]
        for x in range(width):
            a, b = low[x], high[x]
            low[x] = a if a < b else b
            high[x] = b if a < b else a
