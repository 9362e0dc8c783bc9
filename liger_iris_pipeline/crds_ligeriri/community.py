"""The conventions of the Liger/IRIS community's CRDS cache (GitHub ``oirlab/liger-iris-crds-cache``, observatory
LIGERIRI) that crds needs help with to select from its rules for our frames (docs/crds.rst compares the two).

- **Reference type aliases.** Their ``dq`` is our ``mask`` and their ``nonlincoeff`` our ``nonlinearity``
  (``FILEKIND_ALIASES``). ``install_reftype_aliases`` makes crds find a type under its other name in a ligeriri
  imap, so a step asking for ``mask`` under their context gets their ``dq`` reference (and theirs asking for
  ``dq`` under ours gets our ``mask``). The answer keeps the name asked for.
- **Selection keywords.** Their rmaps select on ``META.INSTRUMENT.ERA`` (FITS ``INSTERA``, a semver),
  ``META.INSTRUMENT.PUPIL``, ``META.EXPOSURE.READMODE`` ``DEFAULT``, and a date ``META.DATE``; their imaps name
  ``META.EXPOSURE.IMTYPE`` (``SCI``...). ``selection_parameters`` (crds's ``fits_to_parkeys`` hook, run on every
  frame's parameters before crds selects) supplies those a frame lacks: the era ``DEFAULT_ERA`` (0.0.0, the
  instrument's first), the pupil ``DEFAULT_PUPIL`` (CLEAR: the imager has no pupil element in the beam), the image
  type from EXP_TYPE (SCIENCE is SCI, as in our file names). ``META.DATE`` is the exposure start (DATE-OBS and
  TIME-OBS) of a frame that gives one: our DATE is the time the file was written, theirs the time its data are of.
- **READMODE DEFAULT.** ``fallback_header`` (crds's ``fallback_header`` hook of every rmap) tries ``READMODE``
  ``DEFAULT`` after a selection on the frame's own read mode failed, in an rmap that lists ``DEFAULT``: their
  reference for any read mode the rule does not name.
"""

import functools

OBSERVATORY = "ligeriri"

#: Their reference type: ours.
FILEKIND_ALIASES = {"dq": "mask", "nonlincoeff": "nonlinearity"}

DEFAULT_ERA = "0.0.0"
DEFAULT_PUPIL = "CLEAR"
#: Image types (IMTYPE) of the EXP_TYPEs whose name differs.
IMTYPE_OF_EXP_TYPE = {"SCIENCE": "SCI"}
READMODE = "META.EXPOSURE.READMODE"
DEFAULT_READMODE = "DEFAULT"
_UNKNOWN = (None, "", "UNDEFINED")


def canonical_filekind(filekind):
    """Our name of the reference type ``filekind`` (lower case)."""
    filekind = str(filekind).lower()
    return FILEKIND_ALIASES.get(filekind, filekind)


def filekind_names(filekind):
    """Every name of the reference type ``filekind``: ours first, then its aliases."""
    ours = canonical_filekind(filekind)
    return [ours, *(alias for alias, canonical in FILEKIND_ALIASES.items() if canonical == ours)]


def install_reftype_aliases():
    """Make crds's ``InstrumentContext.get_rmap`` look a ligeriri reference type up under its other names when the
    imap lists it under one of those (crds 14.0.3 internals; tests/test_crds_selection.py checks them)."""
    from crds.core import rmap

    original = rmap.InstrumentContext.get_rmap
    if getattr(original, "ligeriri_aliases", False):  # this module may be loaded twice (crds.ligeriri and ours)
        return

    @functools.wraps(original)
    def get_rmap(self, filekind):
        if self.observatory == OBSERVATORY and str(filekind).lower() not in self.selections:
            filekind = next((name for name in filekind_names(filekind) if name in self.selections), filekind)
        return original(self, filekind)

    get_rmap.ligeriri_aliases = True
    rmap.InstrumentContext.get_rmap = get_rmap


def _known(header, key):
    value = header.get(key)
    return None if value in _UNKNOWN else value


def selection_parameters(header):
    """A frame's parameters (upper-case keys) with the community's selection keywords added (module docstring)."""
    result = {str(key).upper(): value for key, value in header.items()}
    date, time = _known(result, "META.OBSERVATION.DATE"), _known(result, "META.OBSERVATION.TIME")
    if date:
        result["META.DATE"] = f"{date} {str(time)[:8]}" if time else str(date)
    defaults = {"META.INSTRUMENT.ERA": DEFAULT_ERA, "META.INSTRUMENT.PUPIL": DEFAULT_PUPIL}
    exposure_type = _known(result, "META.EXPOSURE.TYPE")
    if exposure_type:
        defaults["META.EXPOSURE.IMTYPE"] = IMTYPE_OF_EXP_TYPE.get(str(exposure_type).upper(), exposure_type)
    for key, value in defaults.items():
        if not _known(result, key):
            result[key] = value
    return result


def fallback_header(rmapping, header):
    """crds's fallback hook: ``header`` with READMODE DEFAULT when ``rmapping`` lists DEFAULT among its read
    modes and the frame's own read mode was another; None (no second try) otherwise."""
    modes = rmapping.selector.get_parkey_map().get(READMODE, ())
    if DEFAULT_READMODE not in modes or header.get(READMODE) == DEFAULT_READMODE:
        return None
    return {**header, READMODE: DEFAULT_READMODE}


def instrument_hooks(instrument, filekinds):
    """The hooks crds looks for in ``crds.ligeriri.<instrument>``, for every rmap of ``filekinds`` (and their
    aliases): ``fallback_header_<instrument>_<filekind>_v1``."""
    names = {name for filekind in filekinds for name in filekind_names(filekind)}
    return {f"fallback_header_{instrument}_{name}_v1": fallback_header for name in sorted(names)}
