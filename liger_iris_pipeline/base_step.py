"""What every Liger/IRIS step shares: model I/O, output names, references and the record of what was done."""

import gc
import json
import logging
import os
import re
import time
from collections import OrderedDict
from contextlib import contextmanager
from functools import cache
from os.path import basename, expanduser, expandvars

import crds
import liger_iris_crds_hook
from stpipe import Pipeline, Step, crds_client

from . import datamodels, output_paths, units
from .code_version import code_version
from .associations import is_association, load_association
from .crds_ligeriri import HERE as CRDS_PLUGIN_DIRECTORY
from .datamodels import DataModelError
from .datamodels.library import FrameLibrary
from .parameter_files import check_parameter_file

log = logging.getLogger(__name__)
#: One record per finished step run, "<step name> done in <seconds> s" (``tmtrun`` prints them as progress).
progress = logging.getLogger("liger_iris_pipeline.progress")
liger_iris_crds_hook.install()  # crds must know the ligeriri observatory before any step asks it

#: Suffixes of the data levels (design.md); a step replaces one of these rather than stacking them.
KNOWN_SUFFIXES = (
    "raw", "ramp", "saturation", "nonlinearity", "jump", "submap", "dqinit", "dark", "flat", "assignwcs", "cal",
    "merged", "bkgsub", "norm", "sub", "tweakreg", "skymatch", "crf", "i2d",
)
_SUFFIX_PATTERN = re.compile(rf"_({'|'.join(KNOWN_SUFFIXES)})$")


#: Parameters of every step and pipeline. ``output_file`` is a plain string, not stpipe's ``output_file`` type,
#: which makes it absolute and creates its directory while the parameters are read, before any check: stpipe
#: keeps only its name anyway, and the run refuses one that is not a plain name (``output_paths``).
COMMON_SPEC = """
    output_file = string(default=None)  # Output file name (a name only: outputs go to output_dir)
    output_ext = string(default='.fits')  # Extension of output files
"""

#: stpipe's bookkeeping parameters, which say nothing about what a step did to the data.
_UNRECORDED_PARAMETERS = {
    "pre_hooks",
    "post_hooks",
    "input_dir",
    "output_ext",
    "output_use_model",
    "output_use_index",
    "search_output_file",
}


#: While ``batch()`` runs: the references it keeps, {(file, size, mtime, model class, arrays): model}, oldest
#: first; None otherwise.
_kept_references = None
#: References ``batch()`` keeps at most (the mask, dark and flat of a frame, or a ramp's five).
KEPT_REFERENCES = 5
#: Top-level runs so far within ``batch()``.
_batch_runs = 0


@contextmanager
def _young_garbage_only(top_level):
    """Make stpipe's full garbage collection at the start of every step cheap.

    stpipe calls gc.collect() before each step; with numba, stdatamodels and asdf imported that scans
    hundreds of thousands of long-lived objects (0.1-0.4 s a step). Collect what is new, then freeze the
    survivors so stpipe's collection skips them; the top-level run unfreezes everything when it ends, so
    nothing stays uncollectable. Within ``batch()``, which unfreezes when it ends, only the second frame's
    run freezes the survivors at its start (what the libraries created while reducing the first frame), so
    that every later frame's objects, its pipeline's included, stay collectable.
    """
    global _batch_runs
    gc.collect()
    if _kept_references is not None:
        if top_level:
            _batch_runs += 1
            if _batch_runs == 2:
                gc.freeze()
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        if top_level:
            gc.unfreeze()


@contextmanager
def batch():
    """Reduce many frames in one process, paying the set-up once.

    Within the block, steps keep the reference files they read (the last ``KEPT_REFERENCES``, by path, size
    and modification time) and reuse them for the next frames, instead of reading a night's mask, dark and
    flat again for every frame; and the garbage collector leaves the libraries' objects alone (frozen once).
    The references are closed when the block ends. Steps never modify a reference's arrays.

        with batch():
            for frame in frames:
                ProcessImagerL2Pipeline.call(frame).save(...)
    """
    global _kept_references, _batch_runs
    if _kept_references is not None:  # already in a batch
        yield
        return
    gc.collect()
    gc.freeze()
    _kept_references, _batch_runs = OrderedDict(), 0
    try:
        yield
    finally:
        kept, _kept_references = _kept_references, None
        for reference in kept.values():
            reference.close()
        gc.unfreeze()


class StepInputError(DataModelError):
    """Input or reference that a step cannot use; the message names the file."""


def _kept_reference(path, model_class, arrays):
    """The reference at ``path`` read as ``model_class`` (``arrays`` of it), from those ``batch()`` keeps
    when it holds the same file unchanged, else read (and kept, within a batch)."""
    if _kept_references is None or not os.path.isfile(path):
        return _read_reference(path, model_class, arrays)
    status = os.stat(path)
    key = (os.path.realpath(path), status.st_size, status.st_mtime_ns, model_class, arrays)
    if key in _kept_references:
        _kept_references.move_to_end(key)
    else:
        _kept_references[key] = _read_reference(path, model_class, arrays)
        while len(_kept_references) > KEPT_REFERENCES:
            _kept_references.popitem(last=False)[1].close()
    return _kept_references[key]


def _read_reference(path, model_class, arrays):
    """The reference at ``path`` (or a caller's model) read as ``model_class``, after checking that it is one:
    a file's REFTYPE and DATAMODL must name ``model_class``'s reference type and model. The model reads a
    file as the class it is asked for and fills in a missing REFTYPE, so the file itself (its primary header,
    or its ASDF tree) is asked."""
    reference = datamodels.open(path, model_class=model_class, arrays=arrays)
    try:
        if reference is path:  # a caller's model
            if not isinstance(reference, model_class):
                raise StepInputError(f"{reference.meta.filename}: a {type(reference).__name__}, expected a {model_class.__name__}")
        else:
            check_reference_identity(datamodels.reference_identity(path), model_class, path)
    except BaseException:
        if reference is not path:
            reference.close()
        raise
    return reference


def check_reference_identity(header, model_class, path):
    """StepInputError naming ``path`` unless its ``header`` (a mapping) has REFTYPE and DATAMODL of ``model_class``."""
    expected = model_class.reftype.upper()
    for keyword, wanted in (("REFTYPE", expected), ("DATAMODL", model_class.__name__)):
        value = header.get(keyword)
        if value is None or str(value).strip() == "":
            raise StepInputError(f"{path}: missing keyword {keyword} (expected {wanted})")
        found = str(value).strip().upper() if keyword == "REFTYPE" else value
        if found != wanted:
            raise StepInputError(f"{path}: {keyword} {value!r} is not {wanted!r}: not a {expected.lower()} reference")


@cache
def _selection_keywords(instrument, reftype):
    """The metadata paths (below ``meta``) CRDS selects a ``reftype`` reference of ``instrument`` on, besides
    the date: the plug-in's parkeys, instrument first."""
    with open(os.path.join(CRDS_PLUGIN_DIRECTORY, "specs", "combined_specs.json")) as specs:
        spec = json.load(specs).get(instrument.lower(), {}).get(reftype, {"parkey": [[]]})
    return ("instrument.name", *(parkey.lower().removeprefix("meta.") for parkey in spec["parkey"][0]))


def meta_value(model, path):
    """The value of ``meta.<path>`` of ``model``, or None."""
    node = model.meta
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def reference_mismatches(model, reference, reftype):
    """The selection keywords on which ``reference`` does not fit ``model``, as "KEYWORD 'ref' (frame 'x')".

    A keyword the reference leaves unset fits any value, and so does the SUBARRAY of a full-frame reference,
    which the steps cut to any window (``reference_window``): the rule CRDS selects by (reference store).
    """
    mismatches = []
    for path in _selection_keywords(model.meta.instrument.name, reftype):
        ours, theirs = meta_value(model, path), meta_value(reference, path)
        if theirs is None or (path == "subarray.name" and theirs == "FULL"):
            continue
        if ours is None or str(ours).upper() != str(theirs).upper():
            keyword = reference.fits_keyword(f"meta.{path}") or path
            mismatches.append(f"{keyword} {theirs!r} (frame {ours!r})")
    return mismatches


def require_same_detector(model, other, role, other_name=None):
    """Raise StepInputError naming ``other`` (a ``role``: reference, subarray) if its instrument or detector differs."""
    for key in ("name", "detector"):
        ours, theirs = getattr(model.meta.instrument, key), getattr(other.meta.instrument, key)
        if ours != theirs:
            name = other_name or other.meta.filename
            raise StepInputError(f"{name}: {role} is for {theirs}, frame {model.meta.filename} is {ours}")


class LigerIrisStepMixin:
    """stpipe hooks shared by our steps and pipelines."""

    #: False: ``process`` gets each science member of an association in turn (a path).
    #: True: it gets all science members of a product at once (a list of paths), for steps that combine frames.
    combines_members = False
    #: True: ``process`` also gets the product's background members (a list of paths) as a second input.
    uses_background = False
    #: True: the output is a reference file, saved under its own conventional name (reference_product.py).
    makes_reference = False

    @classmethod
    def _datamodels_open(cls, init, **kwargs):
        return datamodels.open(init)

    @classmethod
    def _get_crds_parameters(cls, dataset):
        """CRDS parameters of a model; of a file, none.

        stpipe opens an input file only to look for a parameter reference (which we never use, see
        ``get_config_from_reference``) before ``process`` opens it again: that first read of the whole frame
        would double the input I/O. References are selected from the opened model (``get_reference_file``).
        """
        if isinstance(dataset, datamodels.LigerIrisDataModel):
            return super()._get_crds_parameters(dataset)
        return {}, "ligeriri"

    #: The units (BUNIT, units.py) an input frame may be in; counts are converted to DN/s where it may be a rate.
    #: A ramp is always in DN.
    input_units = (units.RATE,)

    def open_input(self, input_data):
        """The frame or ramp to work on: a fresh read of a file, or a copy of a caller's model (never the
        caller's own), with its units checked and a frame in counts converted to DN/s (units.py)."""
        model = self.open_model(input_data)
        if getattr(model, "reftype", None):
            raise StepInputError(f"{model.meta.filename}: a {model.reftype} reference ({type(model).__name__}), not a frame")
        allowed = units.RAMP_UNITS if isinstance(model, datamodels.RampModel) else self.input_units
        try:
            converts = units.frame_unit(model, allowed) == units.COUNTS and units.RATE in allowed
        except units.UnitError as error:
            raise StepInputError(str(error)) from error
        if model is input_data and (self.parent is None or converts):
            model = model.copy()
        if converts:
            units.counts_to_rate(model)
            log.info("%s: in DN, divided by EXPTIME into DN/s", model.meta.filename)
        return model

    def run(self, *args):
        """Run as ``_run_on_input`` does, and log the elapsed time to the ``progress`` logger."""
        started = time.perf_counter()
        result = self._run_on_input(*args)
        progress.info("%s done in %.2f s", self.class_alias or self.name, time.perf_counter() - started)
        return result

    def _run_on_input(self, *args):
        """Run on a frame, or on a JSON association (then a list of results): on each science member,
        or once per product for a step that ``combines_members``; a step that ``uses_background`` also
        gets the product's background members.

        Saved outputs of an association are named after their product when it gives one output,
        otherwise after each member. stpipe's pre- and post-hooks are refused: a hook may be a shell
        command, and parameter files and workflow configs say how to reduce, never what to run.
        """
        hooks = [name for name in ("pre_hooks", "post_hooks") if getattr(self, name, None)]
        if hooks:
            raise StepInputError(f"{self.name}: {' and '.join(hooks)} refused (parameters never run programs)")
        if self.parent is None:
            self._run_inputs = self._checked_inputs(args)
        if not args or not is_association(args[0]):
            with _young_garbage_only(top_level=self.parent is None):
                return super().run(*args)
        output_file, results = self.output_file, []
        for product in load_association(args[0]):
            inputs = [list(map(str, product.science))] if self.combines_members else list(map(str, product.science))
            backgrounds = [list(map(str, product.background))] if self.uses_background else []
            for input_data in inputs:
                self._input_filename = None  # name this output after its member or product, not the association
                if self.save_results and output_file is None and len(inputs) == 1 and not self.makes_reference:
                    self.output_file = product.name
                try:
                    results.append(super().run(input_data, *backgrounds, *args[1:]))
                finally:
                    self.output_file = output_file
        return results

    def _steps_and_self(self):
        """This step, or this pipeline and its steps."""
        return [self, *(getattr(self, name) for name in getattr(self, "step_defs", {}))]

    def _checked_inputs(self, args):
        """The input files of this run (frames, association members, override references, the parameter file),
        after checking, before any work, that every FITS name can be written into a header and that no parameter
        names a directory: output_file, suffix and output_ext are plain names, and a step's own output_dir lies
        in the run's."""
        files = []
        for arg in args:
            for item in arg if isinstance(arg, (list, tuple)) else [arg]:
                if not isinstance(item, (str, os.PathLike)):
                    continue
                if is_association(item):  # its schema keeps product names (output names) plain
                    for product in load_association(item):
                        files += [*product.science, *product.background]
                else:
                    files.append(item)
        run_directory = self._run_output_directory()
        for step in self._steps_and_self():
            for reftype in step.reference_file_types:
                override = getattr(step, f"override_{reftype}", None)
                if isinstance(override, (str, os.PathLike)) and str(override).strip() not in ("", "N/A"):
                    files.append(override)
            for parameter in ("output_file", "suffix", "output_ext"):
                self._check(output_paths.check_name_parameter, f"{step.name}: {parameter}", getattr(step, parameter, None))
            if run_directory and step.output_dir and not output_paths.is_within(_expand(step.output_dir), run_directory):
                raise StepInputError(f"{step.name}: output_dir {step.output_dir} lies outside the run's {run_directory}")
        for path in files:
            self._check(output_paths.check_header_filename, path)
        return [os.fspath(path) for path in files + ([self.config_file] if self.config_file else [])]

    @staticmethod
    def _check(check, *args):
        """Run an ``output_paths`` check, its error as a StepInputError."""
        try:
            check(*args)
        except output_paths.OutputPathError as error:
            raise StepInputError(str(error)) from error

    def _top_level(self):
        """The step or pipeline that runs this one (itself when it runs alone)."""
        return self if self.parent is None else self.parent._top_level()

    def _run_output_directory(self):
        """The output directory of the run this step belongs to (its top-level step's), or None."""
        output_dir = self._top_level().output_dir
        return _expand(output_dir) if output_dir else None

    def check_output_path(self, path):
        """StepInputError unless this run may write ``path``: none of its inputs, inside its output directory."""
        inputs = getattr(self._top_level(), "_run_inputs", ())
        self._check(output_paths.check_output_path, path, inputs, self._run_output_directory())

    @property
    def make_output_path(self):
        """stpipe's output naming, every path it gives checked by ``check_output_path`` before it is written."""
        make = super().make_output_path

        def checked(*args, **kwargs):
            path = make(*args, **kwargs)
            self.check_output_path(path)
            return path

        return checked

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """No step-parameter references: our CRDS rules select data references only; parameters come from the
        parameter files (.cfg or .asdf) and options."""
        return cls._empty_config()

    @classmethod
    def build_config(cls, input, **kwargs):  # noqa: A002 (stpipe's signature)
        """stpipe's (``call`` builds the step's parameters with it), once the parameter files given are checked
        (``parameter_files.check_parameter_file``): ``config_file``, and a pipeline step's own
        ``steps={<step>: {"config_file": ...}}``."""
        config_file = kwargs.get("config_file")
        if config_file is not None:
            check_parameter_file(config_file, cls)
        for name, parameters in (kwargs.get("steps") or {}).items():
            step_class = getattr(cls, "step_defs", {}).get(name)
            if step_class is not None and isinstance(parameters, dict) and parameters.get("config_file"):
                check_parameter_file(os.path.join(os.path.dirname(config_file or ""), parameters["config_file"]), step_class)
        return super().build_config(input, **kwargs)

    @classmethod
    def from_config_file(cls, config_file, parent=None, name=None):
        """stpipe's, once the file is checked (``parameter_files.check_parameter_file``)."""
        if isinstance(config_file, (str, os.PathLike)):  # (stpipe also takes an open file: read as it is)
            check_parameter_file(config_file, cls, subclass_runs=True)
        return super().from_config_file(config_file, parent=parent, name=name)

    @staticmethod
    def remove_suffix(name):
        return _SUFFIX_PATTERN.sub("", name), "_"

    def finalize_result(self, result, reference_files_used):
        """Record the version of the code that ran (CAL_VER: the package version and a digest of this step's
        modules, as the workflow's rules give it), the references used and the CRDS context in ``result``."""
        if not isinstance(result, datamodels.LigerIrisDataModel):
            return
        result.meta.calibration_software_version = code_version(type(self).__module__)
        for reftype, name in reference_files_used:
            getattr(result.meta.ref_file, reftype).name = basename(name) if name != "N/A" else "N/A"
        result.meta.ref_file.crds.sw_version = crds.__version__
        if any(name.startswith("crds://") for _, name in reference_files_used):
            result.meta.ref_file.crds.context_used = crds_client.get_context_used(result.crds_observatory)


def _expand(directory):
    """``directory`` as stpipe reads output_dir: ``~`` and environment variables expanded."""
    return expandvars(expanduser(directory))


class LigerIrisStep(LigerIrisStepMixin, Step):
    """Base of the imager steps: one model in, one model out, status in ``meta.cal_step.<class_alias>``."""

    spec = COMMON_SPEC

    def record(self, model, status):
        """Set this step's status keyword and a history entry with its parameters."""
        setattr(model.meta.cal_step, self.class_alias, status)
        model.add_history_entry(self._status_entry(status), software=self.software)

    def record_member(self, library, index, status):
        """``record`` for member ``index`` of a FrameLibrary (applied whenever it is borrowed)."""
        library.update_meta(index, {f"meta.cal_step.{self.class_alias}": status})
        library.add_history_entry(index, self._status_entry(status), software=self.software)

    @property
    def software(self):
        """This step's code, as a history entry's ``software``."""
        return {"name": "liger_iris_pipeline", "version": code_version(type(self).__module__)}

    def _status_entry(self, status):
        pars = {key: value for key, value in self.get_pars().items() if key not in _UNRECORDED_PARAMETERS}
        for reftype in self.reference_file_types:
            pars[f"override_{reftype}"] = getattr(self, f"override_{reftype}", None)
        return f"{self.class_alias} {status}: {type(self).__name__} parameters {json.dumps(pars, default=str, sort_keys=True)}"

    def open_library(self, frames):
        """The FrameLibrary of ``frames``: a FrameLibrary as it is (its updates are this run's), or one of a
        list of frames (paths or models); StepInputError for anything else."""
        if isinstance(frames, FrameLibrary):
            return frames
        if not isinstance(frames, (list, tuple)) or not frames:
            raise StepInputError(f"{frames}: {self.class_alias} takes an association (or a list) of frames")
        return FrameLibrary(frames)

    def save_members(self, library):
        """Write every member of ``library`` as ``<member>_<suffix>`` when results are to be saved."""
        if not self.save_results:
            return
        for index in range(len(library)):
            with library.frame(index) as model:
                path = self.make_output_path(basepath=model.meta.filename, suffix=self.suffix)
                model.save(path)
                log.info("Saved %s", path)


class ReferenceStep(LigerIrisStep):
    """Base of the steps that read reference files: each reference is checked (type, model, units) and must
    fit the frame (``reference_mismatches``) unless the user allows a misfit."""

    spec = """
    allow_reference_mismatch = boolean(default=False)  # Use a reference whose INSTRUME, DETECTOR, FILTER, READMODE or SUBARRAY differ from the frame's (warned, in HISTORY) instead of refusing it
    """

    @contextmanager
    def opened_reference(self, model, reftype, model_class, arrays=None, path=None):
        """The ``reftype`` reference for ``model`` (``path``, else the override or CRDS's) opened with only
        ``arrays`` when given, or None when it does not apply (N/A); closed afterwards, unless ``batch()``
        keeps it."""
        path = path or self.reference_path(model, reftype)
        if path == "N/A":
            yield None
            return
        reference = _kept_reference(path, model_class, arrays)
        try:
            self.check_reference(model, reference, reftype, path)
            yield reference
        finally:
            if _kept_references is None:
                reference.close()

    def check_reference(self, model, reference, reftype, path):
        """StepInputError naming the reference unless its units are those of its type (units.py) and it fits
        ``model``'s instrument, detector and selection keywords (``reference_mismatches``); with
        ``allow_reference_mismatch`` a misfit is logged and recorded in the history instead."""
        allowed = units.REFERENCE_UNITS.get(reftype)
        if allowed:
            try:
                units.data_unit(reference, allowed, path)
            except units.UnitError as error:
                raise StepInputError(str(error)) from error
        mismatches = reference_mismatches(model, reference, reftype)
        if not mismatches:
            return
        misfit = f"{path}: {reftype} reference does not fit {model.meta.filename}: {', '.join(mismatches)}"
        if not self.allow_reference_mismatch:
            raise StepInputError(f"{misfit} (allow_reference_mismatch=True uses it anyway)")
        log.warning("%s; used as allow_reference_mismatch says", misfit)
        model.add_history_entry(f"{self.class_alias}: {misfit}; used as allow_reference_mismatch says")

    def reference_path(self, model, reftype):
        """The ``reftype`` reference file for ``model`` (override or CRDS), or N/A (logged) when none applies."""
        try:
            path = self.get_reference_file(model, reftype)
        except OSError as error:
            raise StepInputError(f"{getattr(error, 'filename', None) or error}: cannot read {reftype} reference") from error
        except (Exception, SystemExit) as error:  # crds exits on some failures (no cache, bad context)
            reason = str(error) or type(error).__name__
            if f"Unknown reference type '{reftype}'" in reason:  # a context from before the type existed
                log.info("%s: the CRDS context has no %s rules: N/A; %s goes on without", model.meta.filename, reftype, self.name)
                self._reference_files_used.append((reftype, "N/A"))  # recorded (R_*) as stpipe records an N/A
                return "N/A"
            raise StepInputError(
                f"{model.meta.filename}: no {reftype} reference (CRDS could not select one: {reason}); "
                f"give one with override_{reftype}"
            ) from error
        if path == "N/A":
            log.info("%s: no %s reference applies (N/A); %s skipped", model.meta.filename, reftype, self.name)
        return path

    def reference_window(self, model, reference, array):
        """``array`` of ``reference`` cut to the detector window of ``model``; an error if it cannot be.

        Both are cut on their last two axes (the image), so ramps and per-pixel coefficient cubes cut too.
        """
        shape = model.data.shape[-2:]
        if array.shape[-2:] == shape:
            return array
        sub = model.meta.subarray
        if sub.name not in (None, "FULL") and None not in (sub.xstart, sub.ystart):
            y0, x0 = sub.ystart - 1, sub.xstart - 1
            if y0 >= 0 and x0 >= 0 and y0 + shape[0] <= array.shape[-2] and x0 + shape[1] <= array.shape[-1]:
                return array[..., y0 : y0 + shape[0], x0 : x0 + shape[1]]
            raise StepInputError(
                f"{reference.meta.filename}: window x {sub.xstart}..{sub.xstart + shape[1] - 1}, "
                f"y {sub.ystart}..{sub.ystart + shape[0] - 1} of {model.meta.filename} falls outside "
                f"the reference's {array.shape[-1]} x {array.shape[-2]} pixels"
            )
        raise StepInputError(
            f"{reference.meta.filename}: reference shape {array.shape} does not match "
            f"{model.meta.filename} shape {shape}"
        )


class ReferenceCorrectionStep(ReferenceStep):
    """A step that corrects a frame with one reference file; subclasses say which and implement ``apply``.

    The step is SKIPPED (with a log line) when the reference does not apply (N/A), as in jwst.
    """

    #: The data model class of the reference.
    reference_model_class = None
    #: The reference's arrays that ``apply`` uses (None: all); the others are not read.
    reference_arrays = None

    def process(self, input_data):
        model = self.open_input(input_data)
        reason = self.skip_reason(model)
        if reason:
            log.info("%s: %s; %s skipped", model.meta.filename, reason, self.name)
            self.record(model, "SKIPPED")
            return model
        (reftype,) = self.reference_file_types
        with self.opened_reference(model, reftype, self.reference_model_class, self.reference_arrays) as reference:
            if reference is None:
                self.record(model, "SKIPPED")
                return model
            self.apply(model, reference)
        self.record(model, "COMPLETE")
        return model

    def skip_reason(self, model):
        """Why ``model`` needs no correction (then the step is SKIPPED), or None."""
        return None

    def apply(self, model, reference):
        """Correct ``model`` in place with the opened ``reference``."""
        raise NotImplementedError


class RampStep(ReferenceStep):
    """Base of the steps that work on up-the-ramp reads (RampModel)."""

    def open_input(self, input_data):
        """The RampModel to work on (see ``LigerIrisStepMixin.open_input``); an error naming the file if the
        input is not a ramp."""
        model = super().open_input(input_data)
        if not isinstance(model, datamodels.RampModel):
            raise StepInputError(f"{model.meta.filename}: {self.class_alias} needs a ramp (RampModel), got {type(model).__name__}")
        return model

    def readout_maps(self, model):
        """The gain (e-/DN) and CDS read noise (DN) maps for ``model``'s window, or None if either is N/A.

        Within a pipeline, the steps that ask for the same references (jump and ramp_fit) share one read.
        """
        shared = getattr(self.parent, "_shared_readout_maps", {})
        if self.parent is not None:
            self.parent._shared_readout_maps = shared
        window = (model.data.shape[-2:], model.meta.subarray.xstart, model.meta.subarray.ystart)
        maps = []
        for reftype, model_class in (("gain", datamodels.GainModel), ("readnoise", datamodels.ReadnoiseModel)):
            key = (self.reference_path(model, reftype), window)
            if key[0] == "N/A":
                return None
            if key not in shared:
                with self.opened_reference(model, reftype, model_class, arrays=("data",)) as reference:
                    shared[key] = self.reference_window(model, reference, reference.data).copy()
            maps.append(shared[key])
        return maps


class LigerIrisPipeline(LigerIrisStepMixin, Pipeline):
    """Base of the imager pipelines: the steps of ``step_defs`` run in their order, in one process, on one model."""

    spec = COMMON_SPEC
    # Each step asks for its own references when it runs.
    prefetch_references = False

    def process(self, input_data, backgrounds=None):
        model = self.open_input(input_data)
        for name in self.step_defs:
            step = getattr(self, name)
            if not step.uses_background:
                model = step.run(model)
            elif backgrounds:  # a step that needs background frames runs only when there are some
                model = step.run(model, backgrounds)
        return model
