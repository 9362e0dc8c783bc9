"""RampFitStep: the count-rate frame of a ramp (optimally weighted least squares)."""
