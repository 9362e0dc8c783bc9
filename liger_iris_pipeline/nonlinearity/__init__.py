"""NonlinearityStep: linearise the groups of a ramp."""
