"""A strict reader of the DS9 region files the pipeline writes (``catalog_files.ds9_regions``): the ``regions``
package is not among the project's dependencies, so the tests check the files' syntax themselves."""

import re
from pathlib import Path

import numpy as np

HEADER = "# Region file format: DS9 version 4.1"
#: The coordinate systems a DS9 region file may name on a line of its own.
SYSTEMS = ("image", "physical", "fk4", "fk5", "icrs", "galactic", "ecliptic")
GLOBAL = re.compile(r"global( \w+=\w+)+")
NUMBER = r"([-+]?\d+(?:\.\d+)?)"
CIRCLE = re.compile(rf'circle\({NUMBER},{NUMBER},{NUMBER}"\) # text=\{{(\d+)\}}')


def read_circles(path):
    """(coordinate system, rows of (ra, dec, radius in arcsec, label)) of a region file of labelled circles; an
    AssertionError names the first line that is none of: the header, a comment, global properties, one coordinate
    system before the first circle, a circle."""
    lines = Path(path).read_text().splitlines()
    assert lines and lines[0] == HEADER, lines[:1]
    systems, circles = [], []
    for line in lines[1:]:
        if line.startswith("#") or GLOBAL.fullmatch(line):
            continue
        if line in SYSTEMS:
            systems.append(line)
            continue
        circle = CIRCLE.fullmatch(line)
        assert circle and len(systems) == 1, f"{path}: {line!r}"
        circles.append([float(value) for value in circle.groups()])
    assert len(systems) == 1, systems
    return systems[0], np.array(circles, float).reshape(-1, 4)
