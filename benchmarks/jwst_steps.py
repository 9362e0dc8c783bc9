"""jwst's DarkCurrentStep and FlatFieldStep on the arrays of one simulated frame: the field's reference point.

Runs in an environment with jwst (``make benchmark`` makes one from benchmarks/jwst-constraints.txt); it needs
only numpy, astropy and jwst, not liger_iris_pipeline. No CRDS server: every reference is an override written
here in jwst's format, and CRDS runs in local mode on an empty cache.

    python jwst_steps.py prepare RAW DARK FLAT WORKDIR   # jwst-format input and references from our files
    python jwst_steps.py run {dark_current,flat_field} WORKDIR   # one step file to file; prints its timings as JSON

jwst's dark step works on ramps, so the frame becomes a RampModel of one integration of one group (the same
4096x4096 values, and its DQ as the pixel DQ) and the dark a one-group DarkModel; the flat step takes the frame
as an ImageModel (with ERR² as its Poisson variance, as jwst propagates errors through
variances). The instrument is NIRCam imaging (jwst knows no Liger or IRIS).
"""

import os
import sys
import time
from pathlib import Path

from bench_imager_l2 import print_timings  # standard library only, like this script

INSTRUMENT = {"name": "NIRCAM", "detector": "NRCA1", "filter": "F200W", "pupil": "CLEAR", "channel": "SHORT"}
#: The context jwst records in its output (it asks CRDS for one even when every reference is an override).
CONTEXT = "jwst_0000.pmap"
FILES = {"dark_current": ("ramp.fits", "dark.fits"), "flat_field": ("image.fits", "flat.fits")}


def crds_offline(workdir):
    """CRDS in local mode on a cache that holds only a config naming ``CONTEXT``: the overrides are the only references."""
    cache = Path(workdir) / "crds_cache"
    (cache / "config" / "jwst").mkdir(parents=True, exist_ok=True)
    server_config = {"observatory": "jwst", "operational_context": CONTEXT, "edit_context": CONTEXT,
                     "context_history": [], "bad_files_list": [], "force_remote_mode": False, "download_metadata": {},
                     "last_synced": "2026-01-01 00:00:00"}
    (cache / "config" / "jwst" / "server_config").write_text(repr(server_config))
    os.environ.update(CRDS_PATH=str(cache), CRDS_MODE="local", STPIPE_DISABLE_CRDS_STEPPARS="true")
    os.environ.pop("CRDS_SERVER_URL", None)


def describe(model, shape, reftype=None):
    ny, nx = shape
    for key, value in INSTRUMENT.items():
        setattr(model.meta.instrument, key, value)
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.subarray.name, model.meta.subarray.xstart, model.meta.subarray.ystart = "FULL", 1, 1
    model.meta.subarray.xsize, model.meta.subarray.ysize = nx, ny
    if reftype:
        model.meta.reftype, model.meta.author, model.meta.pedigree = reftype, "bench", "DUMMY"
        model.meta.description, model.meta.useafter = "benchmark reference", "2020-01-01T00:00:00"
    else:
        model.meta.observation.date, model.meta.observation.time = "2027-05-01", "00:00:00"
    return model


def prepare(raw, dark, flat, workdir):
    import numpy as np
    from astropy.io import fits
    from stdatamodels.jwst import datamodels

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with fits.open(raw) as frame, fits.open(dark) as dark_file, fits.open(flat) as flat_file:
        sci, err, dq = (np.asarray(frame[name].data, dtype=dtype) for name, dtype in (("SCI", "f4"), ("ERR", "f4"), ("DQ", "u4")))
        shape = sci.shape
        image = describe(datamodels.ImageModel(data=sci, err=err, dq=dq), shape)
        image.var_poisson, image.var_rnoise = err**2, np.zeros_like(err)  # jwst propagates ERR from variances
        image.save(workdir / "image.fits")
        ramp = describe(datamodels.RampModel(data=sci[None, None], err=err[None, None], pixeldq=dq), shape)
        ramp.groupdq = np.zeros((1, 1, *shape), dtype=np.uint8)
        for key, value in {"nints": 1, "ngroups": 1, "nframes": 1, "groupgap": 0, "readpatt": "RAPID"}.items():
            setattr(ramp.meta.exposure, key, value)
        ramp.save(workdir / "ramp.fits")
        dark_model = describe(
            datamodels.DarkModel(
                data=np.asarray(dark_file["SCI"].data, dtype="f4")[None],
                err=np.asarray(dark_file["ERR"].data, dtype="f4")[None],
                dq=np.asarray(dark_file["DQ"].data, dtype="u4"),
            ),
            shape,
            "DARK",
        )
        for key, value in {"ngroups": 1, "nframes": 1, "groupgap": 0, "readpatt": "RAPID"}.items():
            setattr(dark_model.meta.exposure, key, value)
        dark_model.save(workdir / "dark.fits")
        flat_model = datamodels.FlatModel(
            data=np.asarray(flat_file["SCI"].data, dtype="f4"),
            err=np.asarray(flat_file["ERR"].data, dtype="f4"),
            dq=np.asarray(flat_file["DQ"].data, dtype="u4"),
        )
        describe(flat_model, shape, "FLAT").save(workdir / "flat.fits")


def run(step, workdir):
    """One step file to file in this process; prints seconds of imports, read, compute, write and peak RSS."""
    crds_offline(workdir)
    started = time.perf_counter()
    import jwst
    from stdatamodels.jwst import datamodels

    from jwst.dark_current import DarkCurrentStep
    from jwst.flatfield import FlatFieldStep

    imported = time.perf_counter()
    workdir = Path(workdir)
    input_name, reference = FILES[step]
    model = datamodels.open(workdir / input_name)
    read = time.perf_counter()
    if step == "dark_current":
        result = DarkCurrentStep.call(model, override_dark=str(workdir / reference))
    else:
        not_nirspec = {f"override_{kind}": "N/A" for kind in ("fflat", "sflat", "dflat")}
        result = FlatFieldStep.call(model, override_flat=str(workdir / reference), **not_nirspec)
    computed = time.perf_counter()
    result.save(workdir / f"{step}_out.fits")
    print_timings(started, imported, read, computed, time.perf_counter(), jwst=jwst.__version__)


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(*sys.argv[2:6])
    else:
        run(sys.argv[2], sys.argv[3])
