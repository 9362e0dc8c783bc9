"""Level 3: sky levels of the frames, each alone or matched where they overlap (jwst's skymatch)."""
