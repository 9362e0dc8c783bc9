"""SaturationStep: flag the saturated groups of a ramp."""
