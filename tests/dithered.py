"""Calibrated (L2b) frames of a simulated dithered observation, the input of the Level-3 tests."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from frames import simulated_reference_steps
from liger_iris_pipeline import ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.assign_wcs.imager_wcs import imaging_gwcs
from liger_iris_pipeline.simulator import simulate_observation


@dataclass(frozen=True)
class CalibratedDither:
    """The simulation (raw, catalogues with the true WCS in their meta, truth, outlier tables, references) and
    the calibrated frames ``cal`` (``*_cal.fits``), one per exposure, in exposure order."""

    simulated: object
    cal: tuple[Path, ...]


def calibrate_dither(directory, positions=4, size=512, seed=11, **simulation):
    """Simulate a ``positions``-point dither (default pointing errors and rotation, keyword arguments of
    ``simulate_observation`` otherwise) in ``directory`` and calibrate every exposure to ``directory/cal``."""
    directory = Path(directory)
    simulated = simulate_observation(
        directory / "raw", size=size, seed=seed, dither_positions=positions, **simulation
    )
    steps = simulated_reference_steps(simulated)
    output = directory / "cal"
    output.mkdir(parents=True, exist_ok=True)
    cal = []
    for raw in simulated.raw:
        model = ProcessImagerL2Pipeline.call(raw, steps=steps)
        path = output / Path(raw).name.replace("_LVL1_", "_LVL2_").replace(".fits", "_cal.fits")
        model.save(path)
        cal.append(path)
    return CalibratedDither(simulated, tuple(cal))


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
