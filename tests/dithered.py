"""Calibrated (L2b) frames of a simulated dithered observation, the input of the Level-3 tests."""

from dataclasses import dataclass
from pathlib import Path

from frames import simulated_reference_steps
from liger_iris_pipeline import ProcessImagerL2Pipeline
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
