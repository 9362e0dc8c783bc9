"""Run crds in a child process against a given cache (crds caches its configuration per process), and the
frame parameters and flats the store and selection tests share."""

import json
import subprocess
import sys

import numpy as np

from commands import clean_environment
from frames import make_reference
from liger_iris_pipeline import datamodels

#: The selection parameters of an IRIS Ks frame observed 2026-05-01.
FRAME = {
    "META.INSTRUMENT.NAME": "IRIS",
    "META.INSTRUMENT.DETECTOR": "IMG1",
    "META.INSTRUMENT.FILTER": "Ks",
    "META.SUBARRAY.NAME": "FULL",
    "META.EXPOSURE.READMODE": "ROP",
    "META.OBSERVATION.DATE": "2026-05-01",
    "META.OBSERVATION.TIME": "08:00:00",
}

SELECT = """
import json, sys
import liger_iris_crds_hook
liger_iris_crds_hook.install()
import crds
request = json.load(sys.stdin)
answers = [crds.getrecommendations(parameters, reftypes=request["reftypes"], context=request["context"],
                                   observatory="ligeriri") for parameters in request["parameters"]]
print(json.dumps(answers))
"""


def crds_environment(crds_path):
    """The environment of a compute job: the local cache only, read-only, no server."""
    return clean_environment(CRDS_PATH=crds_path, CRDS_MODE="local", CRDS_READONLY_CACHE=1)


def select(crds_path, parameters, reftypes, context=None, ignore_checksum=False):
    """crds's recommendations for each parameter dict, under ``context`` (default: the cache's); with
    ``ignore_checksum``, crds loads mappings whose embedded sha1sum is stale."""
    request = json.dumps({"parameters": parameters, "reftypes": reftypes, "context": context})
    environment = crds_environment(crds_path)
    if ignore_checksum:
        environment["CRDS_IGNORE_MAPPING_CHECKSUM"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", SELECT], input=request, capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_flat(directory, name, instrument="IRIS", filter_name="Ks", subarray=None, useafter="2020-01-01T00:00:00"):
    """A 4x4 flat reference of ones saved as ``directory/name`` (any name: saved as .fits, then renamed)."""
    flat = make_reference(datamodels.FlatModel, "FLAT", instrument=instrument, data=np.ones((4, 4), np.float32))
    flat.meta.instrument.filter = filter_name
    flat.meta.useafter = useafter
    if subarray:
        flat.meta.subarray.name = subarray
    flat.save(directory / "unnamed.fits")  # stdatamodels chooses the format by the extension
    return (directory / "unnamed.fits").rename(directory / name)
