"""The stars a quick-look detected on a frame, as files beside its PNG: ``<exposure>_<product>_stars.ecsv`` (the
table of ``qa.measure_frame``, with units, descriptions and metadata) and ``<exposure>_<product>_stars.reg``
(DS9 circles of one FWHM at the stars' ICRS positions, labelled with their ids)."""

from pathlib import Path

from ..catalog_files import ds9_regions, write_catalog_and_regions
from .skipped import reference_name

#: Pixel positions: what they count.
PIXELS = "0-based pixel of the frame's SCI array, pixel (0, 0) centred at (0, 0)"
#: Units ("bunit": the frame's BUNIT) and descriptions of the columns.
COLUMNS = {
    "id": (None, "star number, 1..N, brightest (flux) first"),
    "x": ("pix", f"{PIXELS}: the Gaussian fit's position where fitted, else the isophotal centroid"),
    "y": ("pix", f"{PIXELS}: the Gaussian fit's position where fitted, else the isophotal centroid"),
    "ra": ("deg", "right ascension (ICRS) at (x, y) through the frame's gWCS (meta wcs)"),
    "dec": ("deg", "declination (ICRS) at (x, y) through the frame's gWCS (meta wcs)"),
    "flux": ("bunit", "sum above the sky level over the star's detection segment (isophotal)"),
    "peak": ("bunit", "highest pixel of the star's segment above the sky level"),
    "fwhm": ("pix", "FWHM of the pixel-integrated circular Gaussian fitted to the star; NaN where not fitted"),
    "fitted": (None, "whether the Gaussian fit converged (the max_fitted brightest stars are fitted)"),
}


def wcs_source(meta):
    """What the frame's gWCS is: assign_wcs's TAN projection with or without the distortion reference, or a
    mosaic's output grid."""
    if "resample" in meta.instance:
        return "gWCS of the mosaic's output grid (resample): TAN projection"
    status = meta.cal_step.instance.get("distortion")
    if status == "COMPLETE":
        return f"gWCS of assign_wcs: TAN projection through the geometric distortion {reference_name(meta, 'distortion')}"
    if status == "SKIPPED":
        return "gWCS of assign_wcs: TAN projection only, no distortion reference applied"
    return "gWCS of the frame (meta.wcs)"


def describe_stars(stars, meta, frame_name, pixel_scale_arcsec, radius_pixels):
    """Set the units and descriptions of ``stars`` (``qa.measure_frame``'s table) and add to its meta what it was
    measured on: the frame, its WCS, units and plate scale, and the region circles' radius."""
    for column, (unit, description) in COLUMNS.items():
        stars[column].unit = meta.bunit_data if unit == "bunit" else unit
        stars[column].description = description
    window = meta.subarray
    stars.meta.update({
        "frame": frame_name,
        "instrument": meta.instrument.name,
        "filter": meta.instrument.filter,
        "exposure": meta.exposure.number,
        "bunit": meta.bunit_data,
        "pixel_coordinates": PIXELS,
        "subarray": window.name or "FULL",
        "wcs": wcs_source(meta),
        "pixel_scale_arcsec": pixel_scale_arcsec,
        "region_radius_pixels": radius_pixels,
    })
    if window.name not in (None, "FULL") and None not in (window.xstart, window.ystart):
        stars.meta["window_origin"] = [window.xstart - 1, window.ystart - 1]  # 0-based detector pixel of (0, 0)
    return stars


def write_stars(stars, stars_path, regions_path):
    """Write ``stars`` (described by ``describe_stars``) and its DS9 regions, each whole or not at all."""
    meta = stars.meta
    radius = meta["region_radius_pixels"]
    title = (
        f"{len(stars)} stars of {meta['frame']} ({Path(stars_path).name}): quick-look detections, circles of one FWHM "
        f"({radius:.3f} pixels)"
    )
    text = ds9_regions(stars["id"], stars["ra"], stars["dec"], radius * meta["pixel_scale_arcsec"], title)
    write_catalog_and_regions(stars, stars_path, regions_path, text)
