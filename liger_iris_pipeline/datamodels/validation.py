"""Checks that a FITS file is usable as its data model, and the error they raise.

Each check refuses what stdatamodels would otherwise take silently: a second SCI (it reads the first), a
float DQ (cast to uint32), an empty ERR (replaced by zeros), a primary array (ignored)...
"""

from functools import cache

import numpy as np
from astropy.io import fits

from ..instruments import IMAGERS
from .fits_reader import image_dtype, image_shape

__all__ = [
    "DataModelError",
    "array_extensions",
    "check_array_values",
    "check_detector",
    "check_hdus",
    "check_model",
    "require_meta",
]

#: The arrays of every model, checked for shape against its primary array.
_ARRAY_NAMES = ("data", "err", "var_poisson", "var_rnoise", "var_flat", "dq", "groupdq", "pixeldq", "coeffs")
#: The extension stdatamodels keeps the model's metadata tree in (a binary table).
_ASDF_EXTENSION = "ASDF"


class DataModelError(ValueError):
    """A file that cannot be used as the model it should be; the message names the file."""


@cache
def array_extensions(cls):
    """{attribute: (extension name, schema datatype)} of the arrays of the model class ``cls``
    (data: SCI, float32; dq: DQ, uint32...)."""
    return {
        name: (spec["fits_hdu"], np.dtype(spec["datatype"]))
        for name, spec in cls().schema["properties"].items()
        if "fits_hdu" in spec and isinstance(spec.get("datatype"), str)
    }


@cache
def _table_extensions(cls):
    """The extension names of the tables (structured datatypes) of the model class ``cls``."""
    properties = cls().schema["properties"].values()
    tables = [spec["fits_hdu"] for spec in properties if isinstance(spec.get("datatype"), list)]
    return (*tables, _ASDF_EXTENSION)


def check_hdus(hdulist, cls, filename):
    """From the headers alone: ``hdulist`` holds the HDUs of the model class ``cls``, each once and of its
    kind, and no primary array.

    Extensions the model does not know (an archive's extra tables, say) are kept, as jwst keeps them:
    stdatamodels carries them into every product (``extra_fits``). It keeps them by name, though, so a name
    used twice (one of ours or not, whatever the EXTVER) is refused: stdatamodels would read the first SCI
    and silently let the second extension of a name replace the first in the products.
    """
    named = {}
    for index, hdu in enumerate(hdulist):
        if hdu.name in named:
            what = f"are both named {hdu.name}" if hdu.name else "both have no EXTNAME"
            raise DataModelError(f"{filename}: HDUs {named[hdu.name]} and {index} {what}")
        named[hdu.name] = index
    arrays = dict(array_extensions(cls).values())
    if hdulist[0].size:
        raise DataModelError(
            f"{filename}: the primary HDU holds data, but {_a(cls.__name__)} keeps its arrays in extensions "
            f"({', '.join(arrays)})"
        )
    for extension in _table_extensions(cls):
        hdu = hdulist[extension] if extension in named else None
        if hdu is not None and type(hdu) is not fits.BinTableHDU:
            raise DataModelError(f"{filename}: {extension} is {_a(type(hdu).__name__)}, not a binary table")
    for extension, datatype in arrays.items():
        if extension in named:
            _check_array_header(hdulist[extension], extension, datatype, filename)


def _a(noun):
    """``noun`` with its indefinite article."""
    return f"{'an' if noun[0] in 'AEIOU' else 'a'} {noun}"


def _check_array_header(hdu, extension, datatype, filename):
    """The array extension ``hdu`` is an image with data, of the kind of the schema's ``datatype`` (floating
    point or integer) once astropy has scaled it: stdatamodels would otherwise cast silently, an int16 SCI to
    float32, a float DQ to uint32."""
    if not isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU)):
        raise DataModelError(f"{filename}: {extension} is {_a(type(hdu).__name__)}, not an image")
    if not image_shape(hdu.header):
        raise DataModelError(f"{filename}: {extension} holds no data")
    bitpix = hdu.header["BITPIX"]
    delivered = image_dtype(hdu.header)
    if (delivered.kind == "f") != (datatype.kind == "f"):
        found = "floating-point" if delivered.kind == "f" else "integer"
        scaled = " scaled by BSCALE/BZERO/BLANK" if (bitpix < 0) != (delivered.kind == "f") else ""
        raise DataModelError(
            f"{filename}: {extension} holds {found} values (BITPIX {bitpix}{scaled}), expected {datatype}"
        )


def check_array_values(hdulist, cls, filename):
    """Each array of ``cls`` read into ``hdulist`` fits the schema's type: stdatamodels casts it to that
    type, so an int16 DQ of -1 would become 4294967295 (every flag) and a float64 SCI of 1e39 infinite. Arrays
    of the schema's type, or of a type it holds exactly (uint8 or uint16 DQ), need no pass over their values."""
    for extension, datatype in array_extensions(cls).values():
        if extension not in hdulist:
            continue
        data = hdulist[extension].data
        if np.can_cast(data.dtype, datatype, "safe"):
            continue
        if datatype.kind == "f":
            with np.errstate(over="ignore"):
                overflows = np.count_nonzero(np.isinf(data.astype(datatype))) - np.count_nonzero(np.isinf(data))
            if overflows:
                raise DataModelError(
                    f"{filename}: {extension} holds {overflows} finite value(s) beyond the {datatype} range"
                )
        else:
            limits = np.iinfo(datatype)
            low, high = data.min(), data.max()
            if low < limits.min or high > limits.max:
                raise DataModelError(
                    f"{filename}: {extension} holds values from {low} to {high}, outside the {datatype} range"
                )


def require_meta(model, paths, filename=None):
    """Raise DataModelError naming the file and every keyword of ``paths`` that ``model`` lacks."""
    missing = model.missing_meta(paths)
    if missing:
        name = filename or model.meta.filename or "<in memory>"
        raise DataModelError(f"{name}: missing required keyword(s) {', '.join(missing)}")


def check_model(model, filename):
    """Check that ``model`` has its primary array, required keywords and consistent array shapes."""
    primary = model.get_primary_array_name()
    if model.instance.get(primary) is None:
        extension = model.schema["properties"][primary].get("fits_hdu", primary.upper())
        raise DataModelError(f"{filename}: no {extension} extension")
    require_meta(model, model.required_meta, filename)
    shape = getattr(model, primary).shape
    if len(shape) != model.primary_ndim:
        raise DataModelError(f"{filename}: {primary.upper()} is {len(shape)}-D, expected {model.primary_ndim}-D")
    image = shape[-2:]
    for name in _ARRAY_NAMES:
        array = model.instance.get(name)
        expected = shape if array is not None and array.ndim == len(shape) else image
        if array is not None and array.shape != expected:
            raise DataModelError(f"{filename}: {name.upper()} shape {array.shape} differs from {primary.upper()} {shape}")
    if primary == "data" and not _any_finite(model.data):
        raise DataModelError(f"{filename}: SCI has no finite value (all NaN or infinite)")
    if model.detector_pixels:
        check_detector(model, image, filename)
    window = (model.meta.subarray.ysize, model.meta.subarray.xsize)
    if None not in window and tuple(window) != image:
        raise DataModelError(f"{filename}: array shape {image} differs from SUBSIZE2 x SUBSIZE1 {window}")


def _any_finite(array, chunk=2**20):
    """Whether ``array`` has a finite value, testing a chunk at a time: a frame's first chunk nearly always
    answers, with no array-sized temporary."""
    flat = array.reshape(-1)
    return any(np.isfinite(flat[start : start + chunk]).any() for start in range(0, flat.size, chunk))


def check_detector(model, shape, filename):
    """The header's detector is one of its instrument's imager detectors, and the array fits on a detector:
    a header from the other instrument would give the frame the wrong references and plate scale."""
    name, detector = model.meta.instrument.name, model.meta.instrument.detector
    imager = IMAGERS[name]
    if detector not in imager.detectors:
        raise DataModelError(f"{filename}: DETECTOR {detector} is not a {name} imager detector ({', '.join(imager.detectors)})")
    if max(shape) > imager.size:
        raise DataModelError(
            f"{filename}: array shape {shape} is larger than the {name} detector ({imager.size} x {imager.size})"
        )
