"""The simulated imager's geometric distortion: a polynomial field fixed at the detector centre.

A detector pixel (x, y) (0-based) is seen at the ideal pixel (x', y') of the same plate scale, which the TAN
projection takes to the sky. With the detector centre (xc, yc) = ((nx - 1) / 2, (ny - 1) / 2), its
half-side R = nx / 2, and u = (x - xc) / R, v = (y - yc) / R:

    x' = x + A sum_{2 <= i + j <= 5} a_ij u**i v**j
    y' = y + A sum_{2 <= i + j <= 5} b_ij u**i v**j

``FIELD_SHAPE`` holds a_ij and b_ij: radial terms (pincushion, third and fifth order) and a few asymmetric
low-order ones, as an AO relay and a camera give. A is chosen so the largest displacement over the detector
is ``corner_pixels``; a filter scales the radial terms by 1 + ``CHROMATIC_SLOPE`` (lambda - lambda_Ks) /
lambda_Ks (lateral colour). No constant or linear term: the centre and the plate scale there stay fixed. The
field is defined over the simulated detector, so a small simulated detector sees the whole field's pattern.

Stars are drawn at x = D^-1(x'): the ideal position of their sky position inverted by fixed-point iteration,
x_{k+1} = x' - A a(u_k, v_k), to 1e-9 pixel. The field is defined over the detector and a margin
(``max(|u|, |v|) <= FIELD_EXTENT``); a star whose ideal position lies farther out, far off the detector, stays
there. The reference the simulator writes carries D as astropy models and, as its inverse, polynomials fitted
to that iteration.
"""

from dataclasses import dataclass

import numpy as np
from astropy.modeling import fitting, models

from ..instruments import FILTER_WAVELENGTH_UM

#: (i, j): (a_ij, b_ij) of the normalised field (before scaling to ``corner_pixels``).
FIELD_SHAPE = {
    (2, 0): (0.30, 0.05),
    (1, 1): (-0.10, 0.25),
    (0, 2): (0.05, -0.20),
    (3, 0): (1.00, 0.00),
    (1, 2): (1.00, 0.00),
    (2, 1): (0.00, 1.00),
    (0, 3): (0.00, 1.00),
    (2, 2): (0.08, -0.06),
    (5, 0): (0.20, 0.00),
    (3, 2): (0.40, 0.00),
    (1, 4): (0.20, 0.00),
    (4, 1): (0.00, 0.20),
    (2, 3): (0.00, 0.40),
    (0, 5): (0.00, 0.20),
}
#: Radial (odd, pincushion) terms, which the filter scales.
RADIAL_TERMS = ((3, 0), (1, 2), (2, 1), (0, 3), (5, 0), (3, 2), (1, 4), (4, 1), (2, 3), (0, 5))
#: Relative change of the radial terms per relative change of wavelength from Ks.
CHROMATIC_SLOPE = 0.05
REFERENCE_WAVELENGTH_UM = FILTER_WAVELENGTH_UM["Ks"]
DEGREE = 5
#: Degree of the polynomials fitted as the reference's inverse, and the grid they are fitted on.
INVERSE_DEGREE = 7
INVERSE_GRID = 65
#: Half-width of the field's domain in normalised coordinates u, v (the detector's is 1).
FIELD_EXTENT = 1.25
#: Fixed-point iterations of the exact inverse: each gains a factor of about the largest derivative of the
#: offsets (about 1e-2).
INVERSION_ITERATIONS = 12


@dataclass(frozen=True)
class DistortionField:
    """The distortion of one (simulated) detector of ``shape`` (ny, nx) in one filter: ``coefficients[(i, j)]
    = (A a_ij, A b_ij)``, the offsets in pixels per u**i v**j."""

    shape: tuple
    coefficients: dict

    @classmethod
    def of(cls, shape, corner_pixels, filter_name, perturbation=0.0, rng=None):
        """The field of ``corner_pixels`` largest displacement in ``filter_name``; with ``perturbation`` (a
        fraction) and ``rng``, every coefficient multiplied by 1 + N(0, perturbation): an older solution."""
        wavelength = FILTER_WAVELENGTH_UM.get(filter_name, REFERENCE_WAVELENGTH_UM)
        chromatic = 1.0 + CHROMATIC_SLOPE * (wavelength - REFERENCE_WAVELENGTH_UM) / REFERENCE_WAVELENGTH_UM
        unit = cls(tuple(shape), {
            power: tuple(value * (chromatic if power in RADIAL_TERMS else 1.0) for value in pair)
            for power, pair in FIELD_SHAPE.items()
        })
        amplitude = corner_pixels / unit.largest_displacement()
        coefficients = {power: (amplitude * a, amplitude * b) for power, (a, b) in unit.coefficients.items()}
        if perturbation:
            coefficients = {
                power: tuple(value * (1.0 + perturbation * rng.standard_normal()) for value in pair)
                for power, pair in coefficients.items()
            }
        return cls(tuple(shape), coefficients)

    @property
    def centre(self):
        return (self.shape[1] - 1) / 2.0, (self.shape[0] - 1) / 2.0

    @property
    def radius(self):
        return self.shape[1] / 2.0

    def offsets(self, x, y):
        """(x' - x, y' - y) at detector pixels (x, y)."""
        u = (np.asarray(x, float) - self.centre[0]) / self.radius
        v = (np.asarray(y, float) - self.centre[1]) / self.radius
        offset_x, offset_y = np.zeros_like(u), np.zeros_like(v)
        for (i, j), (a, b) in self.coefficients.items():
            term = u**i * v**j
            offset_x += a * term
            offset_y += b * term
        return offset_x, offset_y

    def largest_displacement(self):
        """The largest displacement ``|(x', y') - (x, y)|`` over the detector (on its edges and a grid)."""
        x, y = np.meshgrid(np.linspace(-0.5, self.shape[1] - 0.5, 129), np.linspace(-0.5, self.shape[0] - 0.5, 129))
        return float(np.hypot(*self.offsets(x, y)).max())

    def detector_to_ideal(self, x, y):
        offset_x, offset_y = self.offsets(x, y)
        return x + offset_x, y + offset_y

    def ideal_to_detector(self, x_ideal, y_ideal):
        """The detector pixels seen at ideal pixels (x', y'), by fixed-point iteration (exact to ~1e-9 pixel);
        ideal pixels outside the field's domain (``FIELD_EXTENT``) as they are."""
        x_ideal, y_ideal = np.asarray(x_ideal, float), np.asarray(y_ideal, float)
        inside = np.maximum(
            np.abs(x_ideal - self.centre[0]), np.abs(y_ideal - self.centre[1])
        ) <= FIELD_EXTENT * self.radius
        x, y = x_ideal.copy(), y_ideal.copy()
        for _ in range(INVERSION_ITERATIONS):
            offset_x, offset_y = self.offsets(x[inside], y[inside])
            x[inside], y[inside] = x_ideal[inside] - offset_x, y_ideal[inside] - offset_y
        return x, y

    def transform(self):
        """The astropy model detector -> ideal pixels, with polynomials fitted to ``ideal_to_detector`` as its
        inverse. Both work in normalised coordinates (u, v), where the fits are well conditioned."""
        polynomial_x = models.Polynomial2D(DEGREE, c1_0=1.0, name="distortion_x")
        polynomial_y = models.Polynomial2D(DEGREE, c0_1=1.0, name="distortion_y")
        for (i, j), (a, b) in self.coefficients.items():
            setattr(polynomial_x, f"c{i}_{j}", a / self.radius)
            setattr(polynomial_y, f"c{i}_{j}", b / self.radius)
        forward = self._normalised(polynomial_x & polynomial_y)
        margin = 0.05 * self.shape[1]
        grid = np.linspace(-0.5 - margin, self.shape[1] - 0.5 + margin, INVERSE_GRID)
        x_ideal, y_ideal = np.meshgrid(grid, grid)
        x, y = self.ideal_to_detector(x_ideal, y_ideal)
        u_ideal, v_ideal = ((values - centre) / self.radius for values, centre in zip((x_ideal, y_ideal), self.centre))
        fitter = fitting.LinearLSQFitter()
        inverse_x, inverse_y = (
            fitter(models.Polynomial2D(INVERSE_DEGREE), u_ideal, v_ideal, (values - centre) / self.radius)
            for values, centre in zip((x, y), self.centre)
        )
        forward.inverse = self._normalised(inverse_x & inverse_y)
        return forward

    def _normalised(self, pair):
        """(x, y) to (u, v) | both polynomials of ``pair`` on (u, v) | back to pixels."""
        centre_x, centre_y = self.centre
        to_unit = (models.Shift(-centre_x) | models.Scale(1 / self.radius)) & (models.Shift(-centre_y) | models.Scale(1 / self.radius))
        back = (models.Scale(self.radius) | models.Shift(centre_x)) & (models.Scale(self.radius) | models.Shift(centre_y))
        return to_unit | models.Mapping((0, 1, 0, 1)) | pair | back
