"""Catalogues of sources as files: an ECSV table and a DS9 region file beside it, written together, each whole or
not at all. Used by the Level-3 source catalogue (``<product>_cat.ecsv``, ``.reg``) and the quick-look's stars
(``<exposure>_<product>_stars.ecsv``, ``.reg``).

The region file's circles are in ``icrs``: the RA and Dec come from the images' gWCS, whose sky frame is ICRS
(RADESYS = ICRS in their headers). Labelled ``fk5``, they would be read as FK5 J2000 positions and moved by the
FK5-ICRS frame rotation (astropy: 28 mas at RA 150, Dec 2 deg), several IRIS pixels.
"""

import numpy as np

from . import atomic


def ds9_regions(ids, ra, dec, radius_arcsec, title):
    """Text of a DS9 region file: an ICRS circle of ``radius_arcsec`` (one value, or one per source) at each
    (ra, dec) in deg, labelled with its id, after a ``title`` comment."""
    radii = np.broadcast_to(np.asarray(radius_arcsec, float), (len(ids),))
    lines = ["# Region file format: DS9 version 4.1", f"# {title}", "global color=green width=1", "icrs"]
    lines += [f'circle({r:.9f},{d:.9f},{radius:.6f}") # text={{{i}}}' for i, r, d, radius in zip(ids, ra, dec, radii)]
    return "\n".join(lines) + "\n"


def write_catalog_and_regions(catalog, catalog_path, region_path, region_text):
    """Write ``catalog`` (an astropy Table) to ``catalog_path`` as ECSV and ``region_text`` to ``region_path``,
    each atomically, neither before both are complete."""
    with atomic.replacing(catalog_path) as catalog_temporary, atomic.replacing(region_path) as region_temporary:
        catalog.write(catalog_temporary, format="ascii.ecsv")
        region_temporary.write_text(region_text)
