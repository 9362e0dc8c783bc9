"""Write a new IRIS flat-field reference file, named and described as CRDS needs it.

    python new_flat_reference.py FLAT.npy OUTPUT_DIR [USEAFTER]

FLAT.npy holds the flat's relative response (e.g. the normalised median of twilight frames); the error is
taken as a constant 0.002 here. Then give the file to the reference store as a new context:

    crds_add_references --store store/ --description "twilight flats 2027-05" OUTPUT_DIR/IRIS_IMG1_FLAT_*.fits
"""

import sys
from pathlib import Path

import numpy as np

from liger_iris_pipeline import datamodels
from liger_iris_pipeline.dqflags import pixel


def write_flat_reference(flat, flat_err, output_dir, useafter, filter_name="Ks", version=1):
    """Write ``flat`` (and its 1-sigma error) as an IRIS IMG1 flat reference; returns the file's path."""
    flat = np.asarray(flat, dtype=np.float32)
    model = datamodels.FlatModel(data=flat, err=np.asarray(flat_err, dtype=np.float32))
    # Pixels the flat cannot correct: the flat-field step also flags them, the mask makes it explicit.
    model.dq[~np.isfinite(flat) | (flat <= 0)] = pixel["NO_FLAT_FIELD"] | pixel["DO_NOT_USE"]

    # What CRDS selects on (rules in the Calibration page): instrument, detector, filter, and the date from
    # which on the reference applies. SUBARRAY unset: a full-frame reference serves every window.
    model.meta.telescope = "TMT"
    model.meta.instrument.name = "IRIS"
    model.meta.instrument.detector = "IMG1"
    model.meta.instrument.filter = filter_name
    model.meta.reftype = "FLAT"
    model.meta.bunit_data = model.meta.bunit_err = ""  # a relative response: dimensionless
    model.meta.useafter = useafter
    model.meta.description = f"IRIS {filter_name} pixel flat from twilight frames"
    model.meta.author = "Liger/IRIS DRS team"
    model.meta.pedigree = "GROUND"

    stamp = useafter.replace("-", "").replace(":", "")
    path = (
        Path(output_dir) / f"IRIS_IMG1_FLAT_{stamp}_{version}.fits"
    )  # {Instrument}_{DETECTOR}_{REFTYPE}_{date}_{version}
    model.save(path)
    return path


if __name__ == "__main__":
    flat = np.load(sys.argv[1])
    print(
        write_flat_reference(flat, np.full(flat.shape, 0.002), sys.argv[2], *sys.argv[3:4] or ["2027-05-01T00:00:00"])
    )
