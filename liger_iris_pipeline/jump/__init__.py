"""JumpStep: flag cosmic-ray jumps in a ramp (two-point difference)."""
