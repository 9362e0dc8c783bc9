"""stdatamodels data models of the Liger/IRIS imager products and references."""

import warnings
from pathlib import Path

import asdf
import numpy as np
from astropy.io import fits
from astropy.modeling import Model
from astropy.utils.exceptions import AstropyUserWarning
from stdatamodels import DataModel

from ..atomic import os_error_reason, replacing
from ..variances import VARIANCE_ARRAYS
from . import fits_reader
from .integration import SCHEMA_URI_PREFIX
from .validation import DataModelError, array_extensions, check_array_values, check_hdus, check_model, require_meta

__all__ = [
    "VARIANCE_ARRAYS",
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
    "MosaicModel",
    "DistortionModel",
    "open",
    "reference_identity",
]


class LigerIrisDataModel(DataModel):
    """Base of every model: CRDS observatory, required keywords, atomic saving."""

    #: Metadata paths (below ``meta``) a file must carry to be usable.
    required_meta = ("instrument.name", "instrument.detector")
    #: CRDS reference type, for models that are references.
    reftype = None
    #: Dimensions of the primary array; its last two are the detector image (ny, nx).
    primary_ndim = 2
    #: Whether the arrays are detector pixels (checked against the instrument's detector); a mosaic's are sky pixels.
    detector_pixels = True

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


class ImagerModel(LigerIrisDataModel):
    """An imager frame: SCI, ERR, VAR_POISSON, VAR_RNOISE, VAR_FLAT (float32), DQ (uint32) and metadata.

    A frame without variance components (a raw frame from another readout processor, an older product) gets
    VAR_RNOISE = ERR**2 and zero VAR_POISSON and VAR_FLAT: its variance is not split, so all of it counts as
    independent of the signal, and ERR**2 = VAR_POISSON + VAR_RNOISE + VAR_FLAT holds. A component missing
    beside others is zero.
    """

    schema_url = SCHEMA_URI_PREFIX + "imager.schema"
    required_meta = (
        "instrument.name",
        "instrument.detector",
        "exposure.type",
        "exposure.exposure_time",
        "observation.date",
        "observation.time",
    )

    def _allocate_companion_arrays(self):
        unsplit = all(self.instance.get(name) is None for name in VARIANCE_ARRAYS)
        super()._allocate_companion_arrays()
        if self.instance.get("data") is None:
            return
        for name in VARIANCE_ARRAYS:
            if self.instance.get(name) is None:
                setattr(self, name, self.get_default(name))
        if unsplit:
            self.var_rnoise = np.square(self.err, dtype=np.float32)


class MosaicModel(LigerIrisDataModel):
    """Level-3 mosaic (``_i2d``): the frames of an observation drizzled onto one TAN grid of the sky.

    SCI in DN/s per output pixel (flux conserving: the sum over a source is its DN/s), ERR and the three
    variance components drizzled with squared weights (ERR**2 = their sum), WHT the drizzle weight, CON the
    context bit field (plane p, bit k: input frame 32 p + k contributed). ``meta.wcs`` is the output gWCS and
    ``meta.wcsinfo`` the same projection as FITS keywords; ``meta.resample`` says how it was drizzled and from
    which frames; EXPTIME is the sum of the input frames' exposure times.
    """

    schema_url = SCHEMA_URI_PREFIX + "mosaic.schema"
    required_meta = ("instrument.name", "instrument.detector")
    detector_pixels = False


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


class DistortionModel(_ReferenceModel):
    """Geometric distortion reference, an ASDF file: ``model`` maps detector pixels (0-based x, y of the whole
    detector) to ideal pixels of the same plate scale, fixed at the detector centre (no shift or scale there),
    which the TAN projection then takes to the sky. The model carries its inverse (ideal -> detector)."""

    schema_url = SCHEMA_URI_PREFIX + "distortion.schema"
    reftype = "distortion"
    primary_ndim = 0
    detector_pixels = False


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
        MosaicModel,
        DistortionModel,
    )
}

#: File extensions of the references that are ASDF files (transforms) rather than FITS images.
ASDF_EXTENSION = ".asdf"


def open(init, model_class=None, arrays=None):  # noqa: A001 - mirrors stdatamodels/jwst ``datamodels.open``
    """Open a FITS file (or pass through a model) as the data model its DATAMODL keyword names.

    ``arrays`` (model attribute names, e.g. ``("data",)``) reads only those arrays of the file: a step that
    uses one array of a reference does not read, copy and hold the others (each 4096x4096 array is 64 MiB
    of memory to fill). The model's other arrays are then read-only zeros that take no memory, not the
    file's values. It needs ``model_class``.

    Compressed image HDUs and files compressed whole (gzip...) are decompressed by astropy (``fits_reader``).

    Raises DataModelError, naming the file, when it is not FITS, does not hold the model's HDUs each once
    (``check_hdus``), holds values its arrays cannot (``check_array_values``), lacks required keywords, or
    its arrays do not agree in shape (``check_model``).
    """
    if isinstance(init, DataModel):
        return init
    if arrays is not None:
        unknown = set(arrays) - set(array_extensions(model_class))
        if unknown:
            raise ValueError(f"{model_class.__name__} has no array {', '.join(sorted(unknown))}")
    path = Path(init)
    if not path.is_file():
        raise DataModelError(f"{path}: no such file")
    if path.suffix == ASDF_EXTENSION:
        return _open_asdf(path, model_class)
    try:
        with warnings.catch_warnings():
            # astropy only warns about a truncated or corrupt file (while opening it), and pads missing data
            # with zeros.
            warnings.simplefilter("error", AstropyUserWarning)
            with fits_reader.open_headers(path) as hdulist:
                hdulist.verify("exception")
                cls = model_class or MODEL_CLASSES.get(hdulist[0].header.get("DATAMODL"), ImagerModel)
                check_hdus(hdulist, cls, path.name)
                unread = {
                    extension: datatype
                    for name, (extension, datatype) in array_extensions(cls).items()
                    if arrays is not None and name not in arrays
                }
                fits_reader.read_images(hdulist, path, placeholders=unread, while_reading=_load_asdf_plugins)
                check_array_values(hdulist, cls, path.name)
                model = cls(hdulist, allocate_companions=arrays is None)
    except DataModelError:
        raise
    except Exception as error:  # the reader's FitsReadError, and the many types astropy raises for a broken file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataModelError(f"{path}: not a readable FITS file ({reason})") from error
    model.meta.filename = path.name
    try:
        check_model(model, path.name)
    except DataModelError:
        model.close()
        raise
    return model


def _open_asdf(path, model_class):
    """An ASDF reference (``DistortionModel`` unless ``model_class`` says otherwise), checked like a FITS file:
    readable, its required keywords set and its ``model`` a transform of (x, y) to (x, y) with an inverse."""
    cls = model_class or MODEL_CLASSES.get(reference_identity(path)["DATAMODL"], DistortionModel)
    try:
        model = cls(str(path))
    except Exception as error:  # asdf and stdatamodels raise many types for a broken file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataModelError(f"{path}: not a readable ASDF file ({reason})") from error
    model.meta.filename = path.name
    try:
        require_meta(model, model.required_meta, path.name)
        _check_transform(model.instance.get("model"), path.name)
    except DataModelError:
        model.close()
        raise
    return model


def _check_transform(transform, filename):
    """DataModelError unless ``transform`` is an astropy model of (x, y) to (x, y) with an inverse."""
    if not isinstance(transform, Model) or (transform.n_inputs, transform.n_outputs) != (2, 2):
        raise DataModelError(f"{filename}: model is not a transform of (x, y) to (x, y)")
    try:
        transform.inverse
    except NotImplementedError as error:
        raise DataModelError(f"{filename}: model has no inverse (ideal -> detector pixels)") from error


def reference_identity(path):
    """{"REFTYPE": ..., "DATAMODL": ...} as the reference file at ``path`` itself says (its primary header, or
    its ASDF tree), None where it says nothing: a model fills in a missing REFTYPE when it reads a file."""
    path = Path(path)
    if path.suffix != ASDF_EXTENSION:
        header = fits.getheader(path)
        return {"REFTYPE": header.get("REFTYPE"), "DATAMODL": header.get("DATAMODL")}
    try:
        with asdf.open(path, lazy_load=True, memmap=False) as tree:
            meta = tree.tree.get("meta", {})
            return {"REFTYPE": meta.get("reftype"), "DATAMODL": meta.get("model_type")}
    except Exception as error:  # asdf raises many types for a file that is not ASDF
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataModelError(f"{path}: not a readable ASDF file ({reason})") from error


def _load_asdf_plugins():
    """Load asdf's extensions and resource mappings, as stdatamodels' first model would: about a second of
    imports and YAML, which runs on the other core while the arrays of the first file are read."""
    config = asdf.get_config()
    config.resource_manager
    config.extensions
