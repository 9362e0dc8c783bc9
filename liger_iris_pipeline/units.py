"""Units (BUNIT) of frames and references: which each kind of file may be in, and the one conversion the
conventions allow.

Conventions (design.md): a frame is a count rate in DN/s; a frame in counts (BUNIT DN) with a positive,
finite EXPTIME is converted to DN/s on reading (SCI and ERR divided by EXPTIME, variances by EXPTIME**2, recorded in the history).
Ramps are in DN. References: dark in DN/s, or in DN over its EXPTIME; flat dimensionless (BUNIT '');
read noise and saturation in DN; gain in electron/DN. Masks (flags) and nonlinearity coefficients (a
different unit per order) carry no unit. ERR is in the unit of SCI: its BUNIT may be left out, but if given
it must be the same.

Any other unit, and a missing BUNIT, is refused with a message naming the file and telling the two apart.
"""

import math

from .variances import frame_variances, scale_variances

RATE = "DN/s"
COUNTS = "DN"
DIMENSIONLESS = ""
ELECTRONS_PER_DN = "electron/DN"

#: Accepted spellings (compared without spaces and case) of each unit.
_SPELLINGS = {
    RATE: ("DN/s", "DN s-1", "DN s**-1", "DN/sec"),
    COUNTS: ("DN",),
    DIMENSIONLESS: ("",),
    ELECTRONS_PER_DN: ("electron/DN", "electrons/DN", "e-/DN", "e/DN"),
}
_CANONICAL = {"".join(spelling.split()).lower(): unit for unit, spellings in _SPELLINGS.items() for spelling in spellings}

#: The units each reference type may be in (reference types absent here carry no unit).
REFERENCE_UNITS = {
    "dark": (RATE, COUNTS),
    "flat": (DIMENSIONLESS,),
    "readnoise": (COUNTS,),
    "saturation": (COUNTS,),
    "gain": (ELECTRONS_PER_DN,),
}
#: The units a ramp may be in.
RAMP_UNITS = (COUNTS,)


class UnitError(ValueError):
    """A missing, unknown or disallowed BUNIT; the message names the file and the keyword."""


def canonical_unit(value):
    """The unit ``value`` (a BUNIT) spells, or None if it is none of the known ones."""
    if not isinstance(value, str):
        return None
    return _CANONICAL.get("".join(value.split()).lower())


def describe_units(units):
    """``units`` as a message lists them: 'DN/s', 'DN' or '' (dimensionless)."""
    return ", ".join(f"{unit!r}" + (" (dimensionless)" if unit == DIMENSIONLESS else "") for unit in units)


def data_unit(model, allowed, filename=None):
    """The unit (canonical spelling) of ``model``'s SCI, one of ``allowed``; UnitError otherwise.

    ERR, when the model has it and its BUNIT is given, must be in the same unit.
    """
    name = filename or model.meta.filename or "<in memory>"
    value = model.meta.bunit_data
    if value is None:
        raise UnitError(f"{name}: missing keyword BUNIT (SCI); expected one of {describe_units(allowed)}")
    unit = canonical_unit(value)
    if unit not in allowed:
        raise UnitError(f"{name}: BUNIT {value!r} (SCI) is not one of {describe_units(allowed)}")
    err_value = getattr(model.meta, "bunit_err", None)
    if err_value is not None and canonical_unit(err_value) != unit:
        raise UnitError(f"{name}: BUNIT {err_value!r} of ERR differs from BUNIT {value!r} of SCI")
    return unit


def counts_exposure_time(model, filename=None):
    """EXPTIME of ``model``, which holds counts: positive and finite, else UnitError."""
    name = filename or model.meta.filename or "<in memory>"
    exposure_time = model.meta.exposure.exposure_time
    if exposure_time is None:
        raise UnitError(f"{name}: missing keyword EXPTIME, needed to turn BUNIT {COUNTS!r} into {RATE!r}")
    if not (isinstance(exposure_time, (int, float)) and math.isfinite(exposure_time) and exposure_time > 0):
        raise UnitError(f"{name}: EXPTIME {exposure_time!r} is not a positive finite time; cannot turn DN into DN/s")
    return float(exposure_time)


def frame_unit(model, allowed, filename=None):
    """The unit of frame ``model``: one of ``allowed``, or counts (DN) with a usable EXPTIME where a rate is
    allowed (``counts_to_rate`` converts it); UnitError otherwise."""
    convertible = RATE in allowed and COUNTS not in allowed
    unit = data_unit(model, (*allowed, COUNTS) if convertible else allowed, filename)
    if convertible and unit == COUNTS:
        counts_exposure_time(model, filename)
    return unit


def counts_to_rate(model):
    """Convert frame ``model`` from counts to DN/s in place: SCI and ERR divided by EXPTIME (the variances by
    EXPTIME**2), BUNIT set, and a history entry saying so."""
    exposure_time = counts_exposure_time(model)
    model.data /= model.data.dtype.type(exposure_time)
    model.err /= model.err.dtype.type(exposure_time)
    scale_variances(frame_variances(model), exposure_time**-2)
    model.meta.bunit_data = model.meta.bunit_err = RATE
    model.add_history_entry(f"units: SCI and ERR in {COUNTS} divided by EXPTIME {exposure_time:g} s, now {RATE}")
