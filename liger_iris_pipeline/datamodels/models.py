"""stdatamodels data models of the Liger/IRIS imager products and references."""

import builtins
import os
import warnings
from concurrent import futures
from functools import cache
from pathlib import Path

import asdf
import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from stdatamodels import DataModel

from ..atomic import os_error_reason, replacing
from ..instruments import IMAGERS
from .integration import SCHEMA_URI_PREFIX

__all__ = [
    "DataModelError",
    "LigerIrisDataModel",
    "ImagerModel",
    "DarkModel",
    "FlatModel",
    "MaskModel",
    "RampModel",
    "SaturationModel",
    "NonlinearityModel",
    "ReadnoiseModel",
    "GainModel",
    "open",
    "require_meta",
]


class DataModelError(ValueError):
    """A file that cannot be used as the model it should be; the message names the file."""


class LigerIrisDataModel(DataModel):
    """Base of every model: CRDS observatory, required keywords, atomic saving."""

    #: Metadata paths (below ``meta``) a file must carry to be usable.
    required_meta = ("instrument.name", "instrument.detector")
    #: CRDS reference type, for models that are references.
    reftype = None
    #: Dimensions of the primary array; its last two are the detector image (ny, nx).
    primary_ndim = 2

    def __init__(self, init=None, allocate_companions=True, **kwargs):
        super().__init__(init, **kwargs)
        if allocate_companions:
            self._allocate_companion_arrays()

    def _allocate_companion_arrays(self):
        """Give ERR/DQ default arrays shaped like the primary array when a file or caller left them out."""
        primary = self.get_primary_array_name()
        if not primary or self.instance.get(primary) is None:
            return
        for name in ("err", "dq", "data", "groupdq", "pixeldq"):
            if name != primary and name in self.schema["properties"] and self.instance.get(name) is None:
                setattr(self, name, self.get_default(name))

    @property
    def crds_observatory(self):
        return "ligeriri"

    def get_crds_parameters(self):
        """Flat ``meta.*`` scalars, the parameters CRDS selects references on."""
        return {
            key: value
            for key, value in self.to_flat_dict(include_arrays=False).items()
            if key.startswith("meta.") and isinstance(value, (str, int, float, bool))
        }

    def on_save(self, path=None):
        super().on_save(path)
        final_name = getattr(self, "_final_filename", None)
        if final_name:
            self.meta.filename = final_name

    def save(self, path, dir_path=None, *args, **kwargs):
        """Write to a temporary file beside ``path`` and rename it, so no half-written product exists."""
        path = Path(dir_path, Path(path).name) if dir_path else Path(path)
        self._final_filename = path.name
        try:
            with replacing(path) as temporary:
                super().save(str(temporary), *args, **kwargs)
        except OSError as error:
            raise DataModelError(f"{path}: cannot write ({os_error_reason(error)})") from error
        finally:
            self._final_filename = None
        return str(path)

    def missing_meta(self, paths):
        """The FITS keywords (or meta paths) of ``paths`` that have no value."""
        missing = []
        for path in paths:
            node = self.meta
            for part in path.split("."):
                node = getattr(node, part, None)
                if node is None:
                    break
            if node is None:
                missing.append(self.fits_keyword(f"meta.{path}") or f"meta.{path}")
        return missing

    def fits_keyword(self, path):
        """The FITS keyword the schema gives the dotted model ``path``, or None."""
        node = self.schema
        for part in path.split("."):
            node = node.get("properties", {}).get(part, {})
        return node.get("fits_keyword")


def require_meta(model, paths, filename=None):
    """Raise DataModelError naming the file and every keyword of ``paths`` that ``model`` lacks."""
    missing = model.missing_meta(paths)
    if missing:
        name = filename or model.meta.filename or "<in memory>"
        raise DataModelError(f"{name}: missing required keyword(s) {', '.join(missing)}")


class ImagerModel(LigerIrisDataModel):
    """An imager frame: SCI (float32), ERR (float32), DQ (uint32) and metadata."""

    schema_url = SCHEMA_URI_PREFIX + "imager.schema"
    required_meta = (
        "instrument.name",
        "instrument.detector",
        "exposure.type",
        "exposure.exposure_time",
        "observation.date",
        "observation.time",
    )


class RampModel(LigerIrisDataModel):
    """Up-the-ramp reads of one exposure (L0): SCI float32 [nints, ngroups, ny, nx] in DN (each group the mean
    of NFRAMES reads), GROUPDQ uint8 of the same shape, PIXELDQ uint32 [ny, nx], and the read timing."""

    schema_url = SCHEMA_URI_PREFIX + "ramp.schema"
    primary_ndim = 4
    required_meta = (
        "instrument.name",
        "instrument.detector",
        "exposure.type",
        "exposure.readmode",
        "exposure.nframes",
        "exposure.frame_time",
        "exposure.group_time",
        "observation.date",
        "observation.time",
    )


class _ReferenceModel(LigerIrisDataModel):
    required_meta = ("instrument.name", "instrument.detector", "reftype")

    def on_init(self, init):
        super().on_init(init)
        if self.meta.reftype is None:
            self.meta.reftype = self.reftype.upper()


class DarkModel(_ReferenceModel):
    """Dark current reference: rate in DN/s (BUNIT ``DN/s``) or counts in DN over EXPTIME (BUNIT ``DN``)."""

    schema_url = SCHEMA_URI_PREFIX + "dark.schema"
    reftype = "dark"


class FlatModel(_ReferenceModel):
    """Pixel flat-field reference: relative response normalised to a mean of one."""

    schema_url = SCHEMA_URI_PREFIX + "flat.schema"
    reftype = "flat"


class MaskModel(_ReferenceModel):
    """Bad pixel mask reference: DQ flags to OR into every frame."""

    schema_url = SCHEMA_URI_PREFIX + "mask.schema"
    reftype = "mask"

    def get_primary_array_name(self):
        return "dq"


class SaturationModel(_ReferenceModel):
    """Saturation reference: per pixel, the group value (DN) at and above which a group is saturated."""

    schema_url = SCHEMA_URI_PREFIX + "saturation.schema"
    reftype = "saturation"


class NonlinearityModel(_ReferenceModel):
    """Nonlinearity reference: per pixel, coefficients c_k of the correction sum_k c_k M**k of a group value M."""

    schema_url = SCHEMA_URI_PREFIX + "nonlinearity.schema"
    reftype = "nonlinearity"
    primary_ndim = 3

    def get_primary_array_name(self):
        return "coeffs"


class ReadnoiseModel(_ReferenceModel):
    """Read noise reference: CDS read noise (of the difference of two reads) in DN."""

    schema_url = SCHEMA_URI_PREFIX + "readnoise.schema"
    reftype = "readnoise"


class GainModel(_ReferenceModel):
    """Gain reference in e-/DN."""

    schema_url = SCHEMA_URI_PREFIX + "gain.schema"
    reftype = "gain"


MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (
        ImagerModel,
        DarkModel,
        FlatModel,
        MaskModel,
        RampModel,
        SaturationModel,
        NonlinearityModel,
        ReadnoiseModel,
        GainModel,
    )
}


def open(init, model_class=None, arrays=None):  # noqa: A001 - mirrors stdatamodels/jwst ``datamodels.open``
    """Open a FITS file (or pass through a model) as the data model its DATAMODL keyword names.

    ``arrays`` (model attribute names, e.g. ``("data",)``) reads only those arrays of the file: a step that
    uses one array of a reference does not read, copy and hold the others (each 4096x4096 array is 64 MiB
    of memory to fill). The model's other arrays are then read-only zeros that take no memory, not the
    file's values. It needs ``model_class``.

    Raises DataModelError, naming the file, when it is not FITS, lacks its arrays or required keywords,
    or its arrays do not agree in shape.
    """
    if isinstance(init, DataModel):
        return init
    if arrays is not None:
        unknown = set(arrays) - set(_array_extensions(model_class))
        if unknown:
            raise ValueError(f"{model_class.__name__} has no array {', '.join(sorted(unknown))}")
    path = Path(init)
    if not path.is_file():
        raise DataModelError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # astropy only warns about a truncated or corrupt file (while opening it), and pads missing data
            # with zeros.
            warnings.simplefilter("error", AstropyUserWarning)
            cls, hdulist = _open_fits(path, model_class, arrays, while_reading=_load_asdf_plugins)
            with hdulist:
                hdulist.verify("exception")
                check_array_extensions(hdulist, cls, path.name)
                model = cls(hdulist, allocate_companions=arrays is None)
    except DataModelError:
        raise
    except Exception as error:  # astropy raises many types for a broken file
        size = path.stat().st_size
        if size % FITS_BLOCK:
            reason = f"truncated: {size} bytes is not a whole number of {FITS_BLOCK}-byte FITS blocks"
        else:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataModelError(f"{path}: not a readable FITS file ({reason})") from error
    model.meta.filename = path.name
    try:
        check_model(model, path.name)
    except DataModelError:
        model.close()
        raise
    return model


#: The arrays of every model, checked for shape on reading (``_open_fits`` reads them in native byte order).
_ARRAY_NAMES = ("data", "err", "dq", "groupdq", "pixeldq", "coeffs")


FITS_BLOCK = 2880  # bytes: every FITS file is a whole number of these blocks
_IMAGE_HDUS = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)


@cache
def _array_extensions(cls):
    """{attribute: (extension name, schema datatype)} of the arrays of the model class ``cls``
    (data: SCI, float32; dq: DQ, uint32...)."""
    return {
        name: (spec["fits_hdu"], np.dtype(spec["datatype"]))
        for name, spec in cls().schema["properties"].items()
        if "fits_hdu" in spec and isinstance(spec.get("datatype"), str)
    }


def _array_types(cls):
    """{extension name: schema datatype} of the arrays of the model class ``cls``."""
    return dict(_array_extensions(cls).values())


def _unread_extensions(hdulist, cls, arrays):
    """{extension name: schema datatype} of the arrays of ``cls`` in ``hdulist`` other than ``arrays``
    (attribute names)."""
    return {
        extension: datatype
        for name, (extension, datatype) in _array_extensions(cls).items()
        if name not in arrays and extension != "PRIMARY" and extension in hdulist
    }


def _placeholder(header, datatype):
    """Read-only zeros of the shape of the image of ``header``, in ``datatype``, that take no memory."""
    shape = tuple(header[f"NAXIS{axis}"] for axis in range(header["NAXIS"], 0, -1))
    return np.broadcast_to(np.zeros((), datatype), shape)


def check_array_extensions(hdulist, cls, filename):
    """Each array extension of ``cls`` in ``hdulist`` is an image of the schema's kind (floating point or
    integer). stdatamodels would otherwise cast silently: an int16 SCI to float32, a float DQ to uint32."""
    for extension, datatype in _array_types(cls).items():
        if extension not in hdulist:
            continue
        hdu = hdulist[extension]
        if not isinstance(hdu, _IMAGE_HDUS):
            raise DataModelError(f"{filename}: {extension} is a {type(hdu).__name__}, not an image")
        is_float = hdu.header["BITPIX"] < 0
        if is_float != (datatype.kind == "f"):
            found = "floating-point" if is_float else "integer"
            raise DataModelError(
                f"{filename}: {extension} holds {found} values (BITPIX {hdu.header['BITPIX']}), expected {datatype}"
            )


def _open_fits(path, model_class=None, arrays=None, while_reading=None):
    """The model class of ``path`` (``model_class``, or the one its DATAMODL names) and its HDU list with
    every image array in memory in native byte order; with ``arrays``, the other arrays of the model are
    placeholders (``open``). ``while_reading()`` is called while the arrays are read.

    Each array is read straight from the file into native-order memory and byte-swapped there, in parts on
    two threads; FITS unsigned integers (int + BZERO 2**(bits-1), as DQ is stored) become uint by flipping
    the sign bit. astropy's own read costs three passes (a copy to memory, a slow uint64 pass to scale DQ,
    a byte swap to native order afterwards), and a read through a memory map holds the file's pages as
    well as the copy. A file with other scaling (BSCALE, BLANK) is read whole by astropy.
    """
    hdulist = fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=False)
    try:
        cls = model_class or MODEL_CLASSES.get(hdulist[0].header.get("DATAMODL"), ImagerModel)
        images = [
            (index, hdu)
            for index, hdu in enumerate(hdulist)
            if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) and hdu.header.get("NAXIS")
        ]
        offsets = [_unsigned_offset(hdu.header) for _, hdu in images]
        if None in offsets:
            hdulist.close()
            hdulist = fits.open(path, memmap=False, lazy_load_hdus=False)
            for hdu in hdulist:
                if hdu.is_image and hdu.data is not None and not hdu.data.dtype.isnative:
                    hdu.data = hdu.data.astype(hdu.data.dtype.newbyteorder("="))
            return cls, hdulist
        unread = _unread_extensions(hdulist, cls, arrays) if arrays is not None else {}
        parts = []
        with builtins.open(path, "rb", buffering=0) as file:
            try:
                for (index, hdu), offset in zip(images, offsets):
                    if hdu.name in unread:
                        hdu.data = _placeholder(hdu.header, unread[hdu.name])
                    else:
                        hdu.data, reads = _read_native(file, hdulist.fileinfo(index)["datLoc"], hdu.header, offset)
                        parts += reads
                if while_reading:
                    while_reading()
            finally:
                futures.wait(parts)  # no read outlives the open file
        for part in parts:
            part.result()  # raises what a read raised
    except BaseException:
        hdulist.close()
        raise
    return cls, hdulist


def _read_native(file, position, header, unsigned_offset):
    """The image array of ``header`` stored at byte ``position`` of ``file``, in native byte order, and the
    futures of the reads that fill it."""
    shape = tuple(header[f"NAXIS{axis}"] for axis in range(header["NAXIS"], 0, -1))
    stored = np.dtype(_BITPIX_TYPES[header["BITPIX"]])
    array = np.empty(shape, stored)
    flat = array.reshape(-1)
    if unsigned_offset:
        flat = flat.view(stored.str.replace("i", "u"))
        array = array.view(flat.dtype)
    step = _READ_PART // stored.itemsize
    reads = [
        _READERS.submit(_read_part, file, position + start * stored.itemsize, flat[start : start + step], unsigned_offset)
        for start in range(0, flat.size, step)
    ]
    return array, reads


def _read_part(file, position, part, unsigned_offset):
    """Fill ``part`` from ``file`` at byte ``position`` (big-endian values) in native byte order."""
    buffer = memoryview(part.view(np.uint8))
    done = 0
    while done < len(buffer):
        count = os.preadv(file.fileno(), [buffer[done:]], position + done)
        if count == 0:
            raise EOFError(f"the file ends {len(buffer) - done} bytes into an array")
        done += count
    if part.itemsize > 1:
        part.byteswap(inplace=True)
    if unsigned_offset:
        part ^= part.dtype.type(unsigned_offset)


def _load_asdf_plugins():
    """Load asdf's extensions and resource mappings, as stdatamodels' first model would: about a second of
    imports and YAML, which runs on the other core while the arrays of the first file are read."""
    config = asdf.get_config()
    config.resource_manager
    config.extensions


#: Reads of FITS arrays in parts of this many bytes, on two threads: filling fresh memory costs more than
#: the copy itself, and two threads fill it about 1.3x faster than one.
_READ_PART = 16 * 2**20
_READERS = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="fits-read")
#: numpy type of each FITS BITPIX (native byte order: ``_read_native`` swaps the big-endian bytes).
_BITPIX_TYPES = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}


def _unsigned_offset(header):
    """0 for an unscaled image, 2**(bits-1) for FITS's unsigned-integer convention, None for other scaling."""
    bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
    if bscale != 1 or "BLANK" in header:
        return None
    if bzero == 0:
        return 0
    return bzero if header["BITPIX"] > 0 and bzero == 1 << (header["BITPIX"] - 1) else None


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
    """The header's detector is its instrument's imager detector, and the array fits on that detector:
    a header from the other instrument would give the frame the wrong references and plate scale."""
    name, detector = model.meta.instrument.name, model.meta.instrument.detector
    imager = IMAGERS[name]
    if detector != imager.detector:
        raise DataModelError(f"{filename}: DETECTOR {detector} is not the {name} imager's detector {imager.detector}")
    if max(shape) > imager.size:
        raise DataModelError(
            f"{filename}: array shape {shape} is larger than the {name} detector ({imager.size} x {imager.size})"
        )
