"""The design's names of reference files (``{Instrument}_{DETECTOR}_{REFTYPE}_{YYYYMMDDTHHMMSS}_{version}.fits``;
``.asdf`` for the references that are transforms, ``ASDF_REFTYPES``; the version an integer, ours, or a semver
``MAJOR.MINOR.PATCH``, the community cache's, as the CRDS plug-in's name rule reads them),
from a reference model or, for a workflow that must name products before making them, from the headers of the
exposures it is made of. Imports astropy's FITS reader only.
"""

import re

from astropy.io import fits

from .instruments import FILE_INSTRUMENT


#: Reference types whose files are ASDF (astropy transforms), not FITS images.
ASDF_REFTYPES = ("distortion",)
#: A reference's version: an integer (1, 2, ...) or a semver (0.0.1).
VERSION = re.compile(r"\d+|\d+\.\d+\.\d+")


def start_time(date, time):
    """``YYYY-MM-DDThh:mm:ss`` of a DATE-OBS and TIME-OBS (fractions of a second dropped): a USEAFTER."""
    return f"{date}T{time[:8]}"


def exposure_start(model):
    return start_time(model.meta.observation.date, model.meta.observation.time)


def reference_name(instrument, detector, reftype, useafter, version=1):
    """The design's reference file name, ``{Instrument}_{DETECTOR}_{REFTYPE}_{YYYYMMDDTHHMMSS}_{version}.fits``
    (``.asdf`` for a type of ``ASDF_REFTYPES``); ``version`` an integer or a semver string ("0.0.1"), else
    ValueError."""
    if isinstance(version, bool) or not VERSION.fullmatch(str(version)):
        raise ValueError(f"reference version {version!r}: not an integer or a semver MAJOR.MINOR.PATCH")
    stamp = useafter.replace("-", "").replace(":", "")[:15]
    extension = ".asdf" if reftype.lower() in ASDF_REFTYPES else ".fits"
    return f"{FILE_INSTRUMENT[instrument]}_{detector}_{reftype.upper()}_{stamp}_{version}{extension}"


def reference_file_name(model, version=1):
    """The file name of the reference ``model``."""
    meta = model.meta
    return reference_name(meta.instrument.name, meta.instrument.detector, meta.reftype, meta.useafter, version)


def reference_name_of_exposures(paths, reftype, version=1):
    """The file name the reference made from the exposures at ``paths`` gets (USEAFTER: the earliest start),
    read from their headers only, for a workflow that must name products before making them."""
    headers = [fits.getheader(path) for path in paths]
    useafter = min(start_time(header["DATE-OBS"], header["TIME-OBS"]) for header in headers)
    return reference_name(headers[0]["INSTRUME"], headers[0]["DETECTOR"], reftype, useafter, version)
