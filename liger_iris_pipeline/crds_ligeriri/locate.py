"""The ``crds.ligeriri.locate`` functions crds calls to name, place and match our files.

Mappings are named ``ligeriri[_<instrument>[_<reftype>]]_<serial>.[pir]map``; references
``{Instrument}_{DETECTOR}_{REFTYPE}_{YYYYMMDDTHHMMSS}_{version}.fits``, the version an integer (ours) or a
semver ``MAJOR.MINOR.PATCH`` (the community cache's). A reference type is named as ours or as its community alias
(``community.FILEKIND_ALIASES``): the properties of a file give ours. The cache says its layout in
``config/ligeriri/ref_cache_subdir_mode`` (crds's own file): ``flat``, every reference in ``references/ligeriri/``
(ours; also a cache without that file), or ``instrument``, in ``references/ligeriri/<instrument>/`` (the
community's), the instrument being the first field of the reference's name. Dataset parameters are data-model
paths (``META.INSTRUMENT.DETECTOR``); a plain FITS header gets them from its keywords
(``get_cross_strapped_pairs``), and the community's selection keywords are added (``fits_to_parkeys``).
"""

import functools
import os.path
import re

from crds.core import config, rmap, timestamp, utils

from . import FILEKINDS, INSTRUMENTS, TYPES
from .community import canonical_filekind, selection_parameters

OBSERVATORY = "ligeriri"
MAPPING_NAME = re.compile(r"^ligeriri(?:_(?P<instrument>[a-z]+))?(?:_(?P<filekind>[a-z]+))?(?:_(?P<serial>\d+))?$")
REFERENCE_NAME = re.compile(
    r"^(?P<instrument>IRIS|Liger|LIGER)_(?P<detector>[A-Z0-9]+)_(?P<filekind>[A-Z]+)_(?P<date>\d{8}T\d{6})"
    r"_(?P<version>\d+|\d+\.\d+\.\d+)$"
)
#: The instrument a reference belongs to, by its name's first field (ours and the community's names).
REFERENCE_INSTRUMENT = re.compile(r"^(?P<instrument>iris|liger)_", re.IGNORECASE)
#: The cache layouts (``ref_cache_subdir_mode``) this plug-in reads.
SUBDIR_MODES = ("flat", "instrument")


def _fields(filename):
    path = os.path.dirname(filename)
    name, ext = os.path.splitext(os.path.basename(filename))
    return path, name, ext


def decompose_newstyle_name(filename):
    """(path, observatory, instrument, filekind, serial, ext) of a mapping or reference name."""
    path, name, ext = _fields(filename)
    match = MAPPING_NAME.match(name) if config.is_mapping(filename) else None
    if match:
        instrument, filekind, serial = (match.group(key) or "" for key in ("instrument", "filekind", "serial"))
        filekind = canonical_filekind(filekind) if filekind else filekind
        expected = {".pmap": (False, False), ".imap": (True, False), ".rmap": (True, True)}[ext]
        assert (bool(instrument), bool(filekind)) == expected, f"Invalid {ext} name {filename!r}"
    else:
        match = REFERENCE_NAME.match(name)
        assert match, f"Invalid ligeriri file name {filename!r}"
        instrument = match.group("instrument").lower()
        filekind = canonical_filekind(match.group("filekind"))
        serial = f"{match.group('date')}_{match.group('version')}"
    assert instrument in INSTRUMENTS + [""], f"Invalid instrument {instrument!r} in name {filename!r}"
    assert filekind in FILEKINDS + [""], f"Invalid filekind {filekind!r} in name {filename!r}"
    return path, OBSERVATORY, instrument, filekind, serial, ext


def get_file_properties(filename):
    """(instrument, filekind) of a mapping or reference, from its name or else its contents."""
    try:
        return decompose_newstyle_name(filename)[2:4]
    except AssertionError:
        if config.is_mapping(filename):
            return properties_inside_mapping(filename)
        return ref_properties_from_header(filename)[2:4]


def properties_inside_mapping(filename):
    """(instrument, filekind) from a mapping's header."""
    mapping = rmap.fetch_mapping(filename)
    if mapping.filekind == "PIPELINE":
        return "", ""
    if mapping.filekind == "INSTRUMENT":
        return mapping.instrument, ""
    return mapping.instrument, canonical_filekind(mapping.filekind)


def get_reference_properties(filename):
    """(path, observatory, instrument, filekind, serial, ext) of a reference."""
    try:
        return decompose_newstyle_name(filename)
    except AssertionError:
        return ref_properties_from_header(filename)


def ref_properties_from_header(filename):
    """Reference properties from its INSTRUME and REFTYPE keywords, for names outside the convention."""
    from crds.core import data_file

    path, name, ext = _fields(filename)
    header = data_file.get_header(filename)
    instrument = header["INSTRUME"].lower()
    filekind = TYPES.filetype_to_filekind(instrument, canonical_filekind(header["REFTYPE"]))
    return path, OBSERVATORY, instrument, filekind, name, ext


def reference_keys_to_dataset_keys(rmapping, header):
    """A reference's header as the dataset keys it matches: USEAFTER becomes the observation date/time."""
    result = dict(header)
    useafter = header.get("META.USEAFTER", header.get("USEAFTER"))
    if useafter:
        date, time = timestamp.reformat_date(useafter).split()
        result["META.OBSERVATION.DATE"], result["META.OBSERVATION.TIME"] = date, time
    return result


def condition_matching_header(rmapping, header):
    """Normalise header values the way the rmaps are written (upper case strings)."""
    return utils.condition_header(header)


def fits_to_parkeys(header):
    """Our parkeys are data-model paths, which the datasets already provide; the community's selection keywords
    (era, pupil, image type, META.DATE) are added where a frame lacks them (``community.selection_parameters``)."""
    return selection_parameters(header)


def header_to_reftypes(header, context=None):
    """Every reference type may apply; the imap says N/A where one does not."""
    return []


def get_env_prefix(instrument):
    return "crds://"


def filekind_to_keyword(filekind):
    """The FITS keyword recording a reference of ``filekind`` (R_DARK, R_FLAT, ...)."""
    return "R_" + filekind.upper()[:6]


def locate_file(refname, mode=None, parameters=None):
    """Cache path of a reference: in references/ligeriri/, or below it in the directory of its instrument in a
    cache laid out by instrument."""
    mode = mode or reference_subdir_mode()
    name = os.path.basename(refname)
    return os.path.join(locate_dir(reference_instrument(name) if mode == "instrument" else None, mode), name)


def locate_dir(instrument, mode=None):
    """The reference directory of the cache, or of ``instrument`` in a cache laid out by instrument."""
    mode = mode or reference_subdir_mode()
    check_subdir_mode(mode, "ref_cache_subdir_mode")
    refpath = config.get_crds_refpath(OBSERVATORY)
    return os.path.join(refpath, instrument.lower()) if mode == "instrument" and instrument else refpath


def reference_subdir_mode():
    """The layout the cache says in ``config/ligeriri/ref_cache_subdir_mode``: flat where it has no such file
    (crds would guess, and write its guess into a writable cache)."""
    path = config.get_crds_ref_subdir_file(OBSERVATORY)
    try:
        with open(path) as stream:
            mode = stream.read().strip()
    except FileNotFoundError:
        return "flat"
    return check_subdir_mode(mode, path)


def check_subdir_mode(mode, source):
    """``mode`` if this plug-in reads caches laid out so; else ValueError naming ``source``."""
    if mode not in SUBDIR_MODES:
        raise ValueError(f"{source}: cache layout {mode!r} unknown to the ligeriri plug-in (flat or instrument)")
    return mode


def reference_instrument(refname):
    """The instrument (lower case) of a reference, by its name's first field; ValueError if it names none."""
    match = REFERENCE_INSTRUMENT.match(os.path.basename(refname))
    if not match:
        raise ValueError(
            f"{refname}: the name does not start with an instrument (IRIS_, Liger_): no place for it in a cache "
            "laid out by instrument"
        )
    return match.group("instrument").lower()


def get_static_pairs():
    return []


def get_cross_strapped_pairs(header):
    """(keyword, equivalent) pairs crds copies into a dataset's header where the second is missing: each FITS
    keyword of our frames' schema and its data-model path (DETECTOR and META.INSTRUMENT.DETECTOR), both ways.
    Our rmaps select on data-model paths, and ``crds bestrefs --files raw.fits`` reads a file's plain FITS
    header: so its keywords are read through the data model, as jwst's plug-in does."""
    return [pair for keyword, path in _keyword_paths() for pair in ((keyword, path), (path, keyword))]


@functools.cache
def _keyword_paths():
    """(FITS keyword, upper-case data-model path) of every keyword in the frame model's schema."""
    from liger_iris_pipeline.datamodels import ImagerModel  # absolute: this module is also crds.ligeriri.locate

    with ImagerModel() as model:
        return tuple(_schema_keywords(model.schema))


def _schema_keywords(node, path=()):
    for name, child in node.get("properties", {}).items():
        if "fits_keyword" in child:
            yield child["fits_keyword"], ".".join((*path, name)).upper()
        yield from _schema_keywords(child, (*path, name))


def get_extra_tpninfos(refpath):
    return []


def project_check(refpath, rmap=None):
    return None


def tpn_path(tpn_file):
    return os.path.join(os.path.dirname(__file__), "tpns", tpn_file)
