"""Subarray windows of a full frame: find them in its SUBARR_MAP, flag them, paste subarray frames into them.

SUBARR_MAP has one value per full-frame pixel: 0 for a pixel read only in the full frame, k > 0 for a pixel
also read in subarray k. Ids need not be contiguous. The pixels of one id must fill a rectangle exactly
(its bounding box); that rectangle is the subarray's window.

Windows follow the FITS convention of SUBSTRT1/2 and SUBSIZE1/2: (xstart, ystart) is the 1-based column
and row of the window's first pixel, so the window is

    array[ystart - 1 : ystart - 1 + ysize, xstart - 1 : xstart - 1 + xsize]
"""

from typing import NamedTuple

import numpy as np

from ..dqflags import pixel

SUBARRAY = pixel["SUBARRAY"]


class Window(NamedTuple):
    """One subarray's id and its window in full-frame pixels (1-based, FITS convention)."""

    id: int
    xstart: int
    ystart: int
    xsize: int
    ysize: int

    @property
    def slices(self):
        """The (rows, columns) slices of the window in a 0-based numpy array."""
        return (
            slice(self.ystart - 1, self.ystart - 1 + self.ysize),
            slice(self.xstart - 1, self.xstart - 1 + self.xsize),
        )

    @property
    def extent(self):
        """The window's 1-based columns and rows, for messages."""
        return (
            f"columns {self.xstart}-{self.xstart + self.xsize - 1}, rows {self.ystart}-{self.ystart + self.ysize - 1}"
        )

    def fits_in(self, shape):
        """True if the window lies inside an array of ``shape`` (rows, columns)."""
        rows, columns = shape
        return (
            self.xstart >= 1
            and self.ystart >= 1
            and self.xstart - 1 + self.xsize <= columns
            and self.ystart - 1 + self.ysize <= rows
        )


def find_windows(subarr_map):
    """The Window of every id > 0 in ``subarr_map``, by increasing id.

    Raises ValueError when the pixels of an id do not fill their bounding box (a region that is not
    one rectangle: holes, an L shape, two separate patches).
    """
    windows = []
    for subarray_id in np.unique(subarr_map[subarr_map > 0]):
        region = subarr_map == subarray_id
        rows, columns = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        window = Window(
            id=int(subarray_id),
            xstart=int(columns[0]) + 1,
            ystart=int(rows[0]) + 1,
            xsize=int(columns[-1] - columns[0]) + 1,
            ysize=int(rows[-1] - rows[0]) + 1,
        )
        if not region[window.slices].all():
            raise ValueError(
                f"subarray {window.id} is not a rectangle: its {np.count_nonzero(region)} pixels do not fill "
                f"{window.extent}"
            )
        windows.append(window)
    return windows


def flag_windows(dq, windows):
    """OR the SUBARRAY bit into ``dq`` (in place) inside each of ``windows``."""
    for window in windows:
        dq[window.slices] |= SUBARRAY
    return dq


def paste_windows(full, pieces):
    """Copy each (window, array) of ``pieces`` into its window of ``full`` (in place); arrays are window-shaped."""
    for window, values in pieces:
        full[window.slices] = values
    return full
