"""Calibrated (L2b) frames of a simulated dithered observation, the input of the Level-3 tests, and what those
tests measure against its truth: the injected outliers an outlier detection can be asked to find, the good star
pixels it must leave alone, isolated stars, blank sky."""

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy.table import Table, unique, vstack
from scipy.spatial import cKDTree

from commands import clean_environment, command
from frames import simulated_reference_steps
from liger_iris_pipeline import ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.assign_wcs.imager_wcs import imaging_gwcs
from liger_iris_pipeline.simulator import simulate_observation

OVERLAP_MARGIN = 3  # pixels from a frame's edge within which the blot's interpolation is not trusted
MAS_PER_DEG = 3.6e6
MATCH_RADIUS = 1.0  # pixels, a catalogue source to a true star
#: A true star is isolated when no other true star lies within the annulus' outer radius plus the largest
#: aperture radius plus this many PSF sigmas (as in test_source_catalog.py).
ISOLATION_SIGMAS = 3.0
DO_NOT_USE = datamodels.dqflags.pixel["DO_NOT_USE"]


@dataclass(frozen=True)
class CalibratedDither:
    """The simulation (raw, catalogues with the true WCS in their meta, truth, outlier tables, references) and
    the calibrated frames ``cal`` (``*_cal.fits``), one per exposure, in exposure order; for a mosaic
    (``n_detectors=4``) the other detectors, each a CalibratedDither of its own, in ``mosaic``."""

    simulated: object
    cal: tuple[Path, ...]
    mosaic: tuple["CalibratedDither", ...] = ()

    @property
    def detectors(self):
        """This detector and the mosaic's others."""
        return (self, *self.mosaic)

    @property
    def all_cal(self):
        """The calibrated frames of every detector, detector by detector."""
        return tuple(path for detector in self.detectors for path in detector.cal)

    @property
    def all_catalogs(self):
        """The truth catalogue of each of ``all_cal``."""
        return tuple(path for detector in self.detectors for path in detector.simulated.catalogs)


def calibrate_dither(directory, positions=4, size=512, seed=11, **simulation):
    """Simulate a ``positions``-point dither (default pointing errors and rotation, keyword arguments of
    ``simulate_observation`` otherwise, ``n_detectors`` among them) in ``directory`` and calibrate every exposure
    of every detector to ``directory/cal``."""
    directory = Path(directory)
    simulated = simulate_observation(
        directory / "raw", size=size, seed=seed, dither_positions=positions, **simulation
    )
    output = directory / "cal"
    output.mkdir(parents=True, exist_ok=True)
    first, *others = (_calibrate(detector, output) for detector in (simulated, *simulated.mosaic))
    return replace(first, mosaic=tuple(others))


def _calibrate(simulated, output):
    """The CalibratedDither of one detector's ``simulated`` exposures, calibrated with its own references."""
    steps = simulated_reference_steps(simulated)
    cal = []
    for raw in simulated.raw:
        model = ProcessImagerL2Pipeline.call(raw, steps=steps)
        path = output / Path(raw).name.replace("_LVL1_", "_LVL2_").replace(".fits", "_cal.fits")
        model.save(path)
        cal.append(path)
    return CalibratedDither(simulated, tuple(cal))


def reference_catalog(catalogs, path, noise_mas, seed):
    """Every star of the truth ``catalogs`` once (id, ra, dec, flux), and, written to ``path`` (ECSV), its ra/dec
    with N(0, ``noise_mas``) added per axis: an absolute catalogue of the field (Gaia-like)."""
    truth = unique(vstack([Table.read(path)["id", "ra", "dec", "flux"] for path in catalogs], metadata_conflicts="silent"), keys="id")
    rng = np.random.default_rng(seed)
    Table({
        "ra": truth["ra"] + rng.normal(0, noise_mas, len(truth)) / MAS_PER_DEG / np.cos(np.radians(truth["dec"])),
        "dec": truth["dec"] + rng.normal(0, noise_mas, len(truth)) / MAS_PER_DEG,
    }).write(path)
    return truth


def run_image3(directory, cal, refcat, product):
    """Run Level 3 as users do (``liger-iris-asn --image3``, then ``tmtrun image3`` aligning to ``refcat``) on the
    ``cal`` frames, products in ``directory/out``; that directory and the pipeline's stdout."""
    directory = Path(directory)
    environment = clean_environment()
    asn = subprocess.run(
        [command("liger-iris-asn"), "--image3", product, "--output-dir", str(directory), *map(str, cal)],
        capture_output=True, text=True, env=environment,
    )
    assert asn.returncode == 0, asn.stderr
    out = directory / "out"
    result = subprocess.run(
        [command("tmtrun"), "image3", str(directory / f"{product}_asn.json"), f"--output-dir={out}",
         f"--steps.tweakreg.abs_refcat={refcat}"],
        capture_output=True, text=True, env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout


def matched_sources(catalog, mosaic, truth, sigma):
    """Per source of the mosaic's ``catalog``: its nearest true star (of ``truth``, at x, y through the mosaic's
    WCS), and ``clean``: within MATCH_RADIUS of it, the star truly isolated (no other within the annulus' outer
    radius plus the largest aperture radius plus ISOLATION_SIGMAS PSF ``sigma``) and the source unflagged."""
    x, y = mosaic.meta.wcs.invert(truth["ra"], truth["dec"], with_bounding_box=False)
    distance, nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([catalog["x_centroid"], catalog["y_centroid"]]))
    reach = catalog.meta["annulus_radii_pixels"][1] + max(catalog.meta["aperture_radii_pixels"]) + ISOLATION_SIGMAS * sigma
    clean = (distance < MATCH_RADIUS) & isolated(x, y, reach)[nearest] & (np.asarray(catalog["flags"]) == 0)
    return {"catalog": catalog, "x": x, "y": y, "nearest": nearest, "clean": clean, "sigma": sigma}


def bright_offsets(matched, min_snr=100):
    """Centroid minus true position (dx, dy in mosaic pixels) of the clean sources of ``matched`` brighter than
    ``min_snr`` in the third aperture."""
    catalog = matched["catalog"]
    snr = np.asarray(catalog["aper3_flux"]) / np.asarray(catalog["aper3_flux_err"])
    rows = matched["clean"] & (snr > min_snr)
    nearest = matched["nearest"][rows]
    return np.asarray(catalog["x_centroid"])[rows] - matched["x"][nearest], np.asarray(catalog["y_centroid"])[rows] - matched["y"][nearest]


def true_wcs(catalog_path, shape):
    """The gWCS of an exposure's true pointing and rotation, from its catalogue's ``true_wcs`` FITS keywords."""
    header = Table.read(catalog_path, format="ascii.ecsv").meta["true_wcs"]
    scale = np.hypot(header["CDELT2"] * header["PC2_1"], header["CDELT2"] * header["PC2_2"])
    pa = np.rad2deg(np.arctan2(header["PC2_1"], header["PC1_1"]))
    crpix = (header["CRPIX1"], header["CRPIX2"])
    return imaging_gwcs(crpix, (header["CRVAL1"], header["CRVAL2"]), scale, pa, shape)


def with_true_wcs(dither, directory):
    """Copies of the calibrated frames of ``dither`` in ``directory`` whose gWCS is the true one (so that a
    Level-3 step is tested alone, without the alignment that would otherwise find it)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for cal, catalog in zip(dither.cal, dither.simulated.catalogs):
        with datamodels.open(cal) as model:
            model.meta.wcs = true_wcs(catalog, model.data.shape)
            paths.append(Path(model.save(directory / cal.name)))
    return tuple(paths)


def frame_counts(frames, index, x, y):
    """How many frames (this one included) see the sky of pixels (x, y) of frame ``index`` at least
    OVERLAP_MARGIN pixels inside their edges."""
    with datamodels.open(frames[index]) as model:
        ra, dec = model.meta.wcs(x, y)
    counts = np.zeros(len(x), int)
    for path in frames:
        with datamodels.open(path) as other:
            ox, oy = other.meta.wcs.invert(ra, dec, with_bounding_box=False)
            ny, nx = other.data.shape
            counts += (ox >= OVERLAP_MARGIN) & (ox < nx - 1 - OVERLAP_MARGIN) & (oy >= OVERLAP_MARGIN) & (oy < ny - 1 - OVERLAP_MARGIN)
    return counts


def injected(dither, frames, index):
    """The injected outliers of exposure ``index``, with the frame's ERR, the true star signal, and the
    number of ``frames`` that cover them."""
    table = Table.read(dither.simulated.outliers[index])
    with datamodels.open(frames[index]) as model, datamodels.open(dither.simulated.truth[index]) as truth:
        table["err"] = model.err[table["y"], table["x"]]
        sky = Table.read(dither.simulated.catalogs[index]).meta["sky_rate"]
        table["star"] = truth.data[table["y"], table["x"]] - sky
    table["frames"] = frame_counts(frames, index, table["x"], table["y"])
    return table


def counted(table):
    """The injected pixels an outlier detection can be asked to find: brighter than snr1 (5) ERR, on no star
    (star signal < 1 ERR; a star's core raises the threshold by its derivative), in >= 3 frames."""
    return (table["rate"] > 5.0 * table["err"]) & (table["star"] < table["err"]) & (table["frames"] >= 3)


def good_star_pixels(dither, frames, index):
    """Map of the pixels of exposure ``index`` where a star is > 5 ERR above the sky (ERR of ``frames[index]``,
    before outlier detection), not within a pixel of an injected outlier and not DO_NOT_USE already."""
    table = Table.read(dither.simulated.outliers[index])
    sky = Table.read(dither.simulated.catalogs[index]).meta["sky_rate"]
    with datamodels.open(frames[index]) as before, datamodels.open(dither.simulated.truth[index]) as truth:
        ny, nx = before.data.shape
        near_outlier = np.zeros((ny, nx), bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                near_outlier[np.clip(table["y"] + dy, 0, ny - 1), np.clip(table["x"] + dx, 0, nx - 1)] = True
        return (truth.data - sky > 5.0 * before.err) & ~near_outlier & ((before.dq & DO_NOT_USE) == 0)


def isolated(x, y, reach):
    """Per star at (x, y): no other star within ``reach`` pixels."""
    positions = np.column_stack([x, y])
    if len(positions) < 2:
        return np.ones(len(positions), bool)
    distance, _ = cKDTree(positions).query(positions, k=2)
    return distance[:, 1] > reach


def blank_sky(mosaic, x, y, flux, sigma, n_frames):
    """Map of the mosaic pixels every one of ``n_frames`` covers and where no star (at mosaic pixels x, y, total
    ``flux`` DN/s, Gaussian ``sigma`` pixels) adds 1e-3 DN/s."""
    ny, nx = mosaic.data.shape
    blank = (mosaic.con[0] == 2**n_frames - 1) & np.isfinite(mosaic.data)
    for xs, ys, star_flux in zip(x, y, flux):
        peak = star_flux / (2 * np.pi * sigma**2)
        radius = sigma * np.sqrt(2 * np.log(max(peak / 1e-3, 1.0))) + 2
        x0, x1 = max(int(xs - radius), 0), min(int(xs + radius) + 2, nx)
        y0, y1 = max(int(ys - radius), 0), min(int(ys + radius) + 2, ny)
        if x0 < x1 and y0 < y1:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            blank[y0:y1, x0:x1] &= np.hypot(xx - xs, yy - ys) > radius
    return blank
