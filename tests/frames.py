"""Small hand-built frames and references, so step tests know every pixel's expected value."""

import hashlib

import numpy as np

from liger_iris_pipeline import datamodels

SHAPE = (6, 8)
#: BUNIT of each reference type, as the steps require (liger_iris_pipeline/units.py); masks and nonlinearity
#: coefficients carry none.
REFERENCE_UNITS = {"DARK": "DN/s", "FLAT": "", "READNOISE": "DN", "SATURATION": "DN", "GAIN": "electron/DN"}


def describe(model, instrument="IRIS", reftype=None):
    """Fill the metadata a frame (or, with ``reftype``, a reference) must carry."""
    detector, telescope = {"IRIS": ("IMG1", "TMT"), "LIGER": ("IMG", "Keck-I")}[instrument]
    model.meta.telescope = telescope
    model.meta.instrument.name = instrument
    model.meta.instrument.detector = detector
    model.meta.instrument.filter = "Ks"
    if reftype:
        model.meta.reftype = reftype
        model.meta.useafter = "2020-01-01T00:00:00"
        model.meta.pedigree = "DUMMY"
        if reftype.upper() in REFERENCE_UNITS:
            model.meta.bunit_data = REFERENCE_UNITS[reftype.upper()]
            if "err" in model.schema["properties"]:
                model.meta.bunit_err = model.meta.bunit_data
        return model
    model.meta.exposure.type = "SCIENCE"
    model.meta.exposure.exposure_time = 10.0
    model.meta.observation.date = "2027-05-01"
    model.meta.observation.time = "08:00:00.000"
    model.meta.pointing.ra = 150.0
    model.meta.pointing.dec = 2.0
    model.meta.pointing.pa = 0.0
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    return model


def make_frame(sci, err=None, dq=None, instrument="IRIS"):
    """A frame; its ERR, given without variance components, all counts as VAR_RNOISE (ImagerModel)."""
    arrays = {"data": np.asarray(sci, dtype=np.float32)}
    if err is not None:
        arrays["err"] = np.asarray(err, dtype=np.float32)
    model = datamodels.ImagerModel(**arrays)
    if dq is not None:
        model.dq = np.asarray(dq, dtype=np.uint32)
    return describe(model, instrument)


def make_reference(model_class, reftype, instrument="IRIS", **arrays):
    model = model_class(**{name: np.asarray(value) for name, value in arrays.items()})
    return describe(model, instrument, reftype)


def file_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def simulated_reference_steps(simulated):
    """``steps`` for ProcessImagerL2Pipeline that give each step the simulated observation's own reference (N/A: no
    distortion, when it was simulated without)."""
    return {
        "dq_init": {"override_mask": str(simulated.mask)},
        "dark_current": {"override_dark": str(simulated.dark)},
        "flat_field": {"override_flat": str(simulated.flat)},
        "assign_wcs": {"override_distortion": str(simulated.distortion or "N/A")},
    }
