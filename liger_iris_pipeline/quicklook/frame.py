"""Quick-look PNG, QA row and detected stars of one calibrated (L2b) frame file."""

from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import datamodels
from ..atomic import replacing
from ..dqflags import pixel
from .display import render_quicklook
from .qa import measure_frame
from .skipped import skipped_steps
from .stars import describe_stars, write_stars

#: DQ bits that do not make a pixel bad: SUBARRAY only says where a window was read.
NOT_BAD = pixel["SUBARRAY"]
#: Columns of a QA row, in order.
QA_COLUMNS = (
    "frame", "instrument", "filter", "target", "exposure", "exposure_time", "date_obs", "mjd", "bunit",
    "pixel_scale_arcsec", "sky_level", "sky_noise", "flagged_fraction", "n_stars", "fwhm_pixels", "fwhm_arcsec",
    "n_fitted", "n_matched", "wcs_offset_mas", "skipped_steps", "skip_reasons", "subarray",
)
#: Separator of the steps, and of their reasons, in the skipped_steps and skip_reasons columns.
SEPARATOR = "; "


def flagged_pixels(model):
    """Pixels of a frame with any DQ flag other than SUBARRAY; of a mosaic (no DQ), those no frame covered
    (weight 0)."""
    dq = model.instance.get("dq")
    if dq is None:
        return ~(np.asarray(model.wht) > 0)
    return (np.asarray(dq) & ~np.uint32(NOT_BAD)) != 0


def read_catalog(path):
    """(ra, dec) in degrees of the stars of an ECSV catalogue with ``ra`` and ``dec`` columns."""
    table = Table.read(path, format="ascii.ecsv")
    missing = {"ra", "dec"} - set(table.colnames)
    if missing:
        raise ValueError(f"{Path(path).name}: catalogue has no column {', '.join(sorted(missing))}")
    return np.asarray(table["ra"], float), np.asarray(table["dec"], float)


def quicklook_frame(frame_path, png_path, qa_path, catalog_path=None, stretch="zscale", max_size=1024,
                    match_radius_arcsec=0.1, stars_path=None, regions_path=None):
    """Write the quick-look PNG and the one-row QA table (ECSV) of the L2b frame (or L3 mosaic) ``frame_path``;
    return the row.

    ``catalog_path``: an ECSV star list (ra, dec) to check the WCS against, or None. ``stars_path``: also write the
    stars the QA counted there (ECSV, ``stars.py``; none found: no row) and their DS9 regions to ``regions_path``
    (default: ``stars_path`` with the suffix ``.reg``).
    """
    name = Path(frame_path).name
    with datamodels.open(frame_path) as model:
        if model.meta.wcs is None:
            raise ValueError(f"{name}: no WCS in the frame (meta.wcs); run assign_wcs first")
        image = np.asarray(model.data, dtype=np.float64)
        flagged = flagged_pixels(model)
        catalog = read_catalog(catalog_path) if catalog_path else None
        numbers, stars = measure_frame(image, flagged, model.meta.wcs, catalog, match_radius_arcsec=match_radius_arcsec)
        drawn = render_quicklook(png_path, image, flagged, model.meta.wcs, _title(model, name), stretch, max_size)
        meta = model.meta
        skipped = skipped_steps(meta)
        pixel_scale = drawn["bar_arcsec"] / drawn["bar_pixels"]
        row = {
            "frame": name,
            "instrument": meta.instrument.name,
            "filter": meta.instrument.filter,
            "target": meta.target.name,
            "exposure": meta.exposure.number,
            "subarray": meta.subarray.name or "FULL",
            "exposure_time": meta.exposure.exposure_time,
            "date_obs": f"{meta.observation.date}T{meta.observation.time}",
            "mjd": meta.exposure.start_time,
            "bunit": meta.bunit_data,
            "pixel_scale_arcsec": pixel_scale,
            **numbers,
            "fwhm_arcsec": numbers["fwhm_pixels"] * pixel_scale,
            # Steps SKIPPED, and why: "" when none was.
            "skipped_steps": SEPARATOR.join(step for step, _ in skipped),
            "skip_reasons": SEPARATOR.join(f"{step}: {reason}" for step, reason in skipped),
        }
        if stars_path is not None:
            # Circles of one FWHM: the frame's, else (no star fitted) the detections' first guess of it.
            radius = numbers["fwhm_pixels"] if np.isfinite(numbers["fwhm_pixels"]) else stars.meta["fwhm_guess_pixels"]
            describe_stars(stars, meta, name, pixel_scale, radius)
    if stars_path is not None:
        write_stars(stars, stars_path, regions_path or Path(stars_path).with_suffix(".reg"))
    write_qa_row(qa_path, row)
    return row


def write_qa_row(path, row):
    """Write ``row`` as a one-row ECSV table, atomically."""
    table = Table(rows=[[row[column] for column in QA_COLUMNS]], names=QA_COLUMNS)
    with replacing(path) as temporary:
        table.write(temporary, format="ascii.ecsv")


def _title(model, name):
    meta = model.meta
    frames = model.meta.resample.n_frames if "resample" in model.meta.instance else None
    what = f"mosaic of {frames} frames" if frames else f"exposure {meta.exposure.number}"
    return (
        f"{meta.target.name} | {meta.instrument.name} {meta.instrument.filter} | {name}\n"
        f"{what}, {meta.exposure.exposure_time:g} s, "
        f"{meta.observation.date}T{meta.observation.time} UTC"
    )
