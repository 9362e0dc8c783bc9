"""Numba helpers shared by the per-pixel kernels of the ramp algorithms (plain numpy/numba, no stpipe)."""

import numba


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
