"""Simulated Liger/IRIS imager observations with known truth: raw frames, references, catalogues.

Independent of the calibration code (no step, algorithm module or gwcs is imported), so its truth checks
the pipeline. See ``simulate.py`` for the files written and the physics.
"""

from .simulate import SimulatedObservation, simulate_observation

__all__ = ["SimulatedObservation", "simulate_observation"]
