"""Build associations from a list of exposures: each science exposure with its nearest background exposures
(image2), or all the calibrated exposures of one dithered observation as one Level-3 product (image3).

Exposures are grouped by instrument, detector and filter (INSTRUME, DETECTOR, FILTER); within a group the
science exposures are EXP_TYPE SCIENCE and the background exposures EXP_TYPE SKY. Each science exposure
becomes one product, named after its file, with the ``n_background`` background exposures of its group
closest to it in time (start times from DATE-OBS and TIME-OBS; ties go to the earlier one). A science
exposure without background exposures in its group gets a product of its own alone.

An image3 association holds one product, named by the caller, whose members are the given science exposures;
they must share instrument and filter (the detectors of the IRIS mosaic may differ: they make one mosaic).
"""

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from astropy.io import fits

from .. import atomic
from .association import AssociationError, load_association

SCIENCE, BACKGROUND = "SCIENCE", "SKY"


@dataclass(frozen=True)
class Exposure:
    path: Path
    setup: tuple  # (instrument, detector, filter)
    exposure_type: str
    start: datetime


def read_exposure(path):
    """The grouping keys, type and start time of the exposure at ``path``; AssociationError naming it if unreadable."""
    path = Path(path)
    try:
        header = fits.getheader(path)
        keys = tuple(header[key] for key in ("INSTRUME", "DETECTOR", "FILTER"))
        start = datetime.fromisoformat(f"{header['DATE-OBS']}T{header['TIME-OBS']}")
        return Exposure(path, keys, header["EXP_TYPE"], start)
    except KeyError as error:
        raise AssociationError(f"{path}: missing keyword {error.args[0]}") from error
    except (OSError, ValueError) as error:
        raise AssociationError(f"{path}: cannot read its header ({error})") from error


def nearest(science, backgrounds, count):
    """The ``count`` background exposures closest in time to ``science``, in time order."""
    ranked = sorted(backgrounds, key=lambda other: (abs((other.start - science.start).total_seconds()), other.start))
    return sorted(ranked[:count], key=lambda other: other.start)


def generate_associations(paths, directory, n_background=1, pool=""):
    """{product name: association document} for the exposures at ``paths``, members relative to ``directory``."""
    if n_background < 1:
        raise ValueError(f"n_background must be >= 1, got {n_background}")
    exposures = [read_exposure(path) for path in paths]
    directory = Path(directory).resolve()
    documents = {}
    for science in sorted((e for e in exposures if e.exposure_type == SCIENCE), key=lambda e: (e.setup, e.start)):
        backgrounds = [e for e in exposures if e.exposure_type == BACKGROUND and e.setup == science.setup]
        members = [(science, "science")] + [(other, "background") for other in nearest(science, backgrounds, n_background)]
        name = science.path.name.removesuffix(".fits")
        documents[name] = {
            "asn_type": "image2",
            "asn_rule": "science_with_nearest_background",
            "asn_pool": pool,
            "products": [
                {"name": name, "members": [{"expname": _relative(e.path, directory), "exptype": t} for e, t in members]}
            ],
        }
    if not documents:
        raise AssociationError(f"{', '.join(map(str, paths))}: no science exposure (EXP_TYPE {SCIENCE})")
    return documents


def generate_image3_association(paths, directory, product, pool=""):
    """{product: association document} of one Level-3 product of the science exposures at ``paths``."""
    exposures = sorted((read_exposure(path) for path in paths), key=lambda e: (e.start, e.setup, e.path.name))
    for exposure in exposures:
        if exposure.exposure_type != SCIENCE:
            raise AssociationError(f"{exposure.path}: EXP_TYPE {exposure.exposure_type}, not {SCIENCE}")
        if exposure.setup[::2] != exposures[0].setup[::2]:
            raise AssociationError(
                f"{exposure.path}: {'/'.join(exposure.setup[::2])} differs from {exposures[0].path.name}'s "
                f"{'/'.join(exposures[0].setup[::2])} (one mosaic is one instrument and filter)"
            )
    members = [{"expname": _relative(e.path, Path(directory).resolve()), "exptype": "science"} for e in exposures]
    document = {
        "asn_type": "image3",
        "asn_rule": "dithered_observation",
        "asn_pool": pool,
        "products": [{"name": product, "members": members}],
    }
    return {product: document}


def write_associations(paths, directory, n_background=1, pool="", image3_product=None):
    """Write ``<product>_asn.json`` into ``directory`` for each product (one image3 product when
    ``image3_product`` names it), checked by reading it back; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if image3_product is None:
        documents = generate_associations(paths, directory, n_background, pool)
    else:
        documents = generate_image3_association(paths, directory, image3_product, pool)
    written = []
    for name, document in documents.items():
        path = directory / f"{name}_asn.json"
        atomic.write_text(path, json.dumps(document, indent=2) + "\n")
        load_association(path)
        written.append(path)
    return written


def _relative(path, directory):
    relative = os.path.relpath(path.resolve(), directory)
    if relative.startswith(".."):
        raise AssociationError(f"{path}: outside {directory}; write the associations where the exposures are")
    return relative
