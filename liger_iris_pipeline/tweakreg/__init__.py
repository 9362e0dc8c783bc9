"""Level 3: alignment of the frames' WCS to each other and to a reference catalogue (tweakwcs)."""
