"""What every Liger/IRIS step shares: model I/O, output names, references and the record of what was done."""

import json
import logging
import re
import time
from os.path import basename

import crds
import liger_iris_crds_hook
from stpipe import Pipeline, Step, crds_client

from . import __version__, datamodels
from .associations import is_association, load_association
from .datamodels import DataModelError

log = logging.getLogger(__name__)
#: One record per finished step run, "<step name> done in <seconds> s" (``tmtrun`` prints them as progress).
progress = logging.getLogger("liger_iris_pipeline.progress")
liger_iris_crds_hook.install()  # crds must know the ligeriri observatory before any step asks it

#: Suffixes of the data levels (design.md); a step replaces one of these rather than stacking them.
KNOWN_SUFFIXES = ("raw", "ramp", "submap", "dqinit", "dark", "flat", "assignwcs", "cal", "merged")
_SUFFIX_PATTERN = re.compile(rf"_({'|'.join(KNOWN_SUFFIXES)})$")


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


class StepInputError(DataModelError):
    """Input or reference that a step cannot use; the message names the file."""


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

    @classmethod
    def _datamodels_open(cls, init, **kwargs):
        return datamodels.open(init)

    def open_input(self, input_data):
        """The model to work on: a fresh read of a file, or a copy of a caller's model (never the caller's own)."""
        model = self.open_model(input_data)
        if model is input_data and self.parent is None:
            model = model.copy()
        return model

    def run(self, *args):
        """Run as ``_run_on_input`` does, and log the elapsed time to the ``progress`` logger."""
        started = time.perf_counter()
        result = self._run_on_input(*args)
        progress.info("%s done in %.2f s", self.class_alias or self.name, time.perf_counter() - started)
        return result

    def _run_on_input(self, *args):
        """Run on a frame, or on a JSON association (then a list of results): on each science member,
        or once per product for a step that ``combines_members``.

        Saved outputs of an association are named after their product when it gives one output,
        otherwise after each member.
        """
        if not args or not is_association(args[0]):
            return super().run(*args)
        output_file, results = self.output_file, []
        for product in load_association(args[0]):
            inputs = [list(map(str, product.science))] if self.combines_members else list(map(str, product.science))
            for input_data in inputs:
                self._input_filename = None  # name this output after its member or product, not the association
                if self.save_results and output_file is None and len(inputs) == 1:
                    self.output_file = product.name
                try:
                    results.append(super().run(input_data, *args[1:]))
                finally:
                    self.output_file = output_file
        return results

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """No step-parameter references: our CRDS rules select data references only; parameters come from .cfg."""
        return cls._empty_config()

    @staticmethod
    def remove_suffix(name):
        return _SUFFIX_PATTERN.sub("", name), "_"

    def finalize_result(self, result, reference_files_used):
        """Record the software version, the references used and the CRDS context in ``result``."""
        if not isinstance(result, datamodels.LigerIrisDataModel):
            return
        result.meta.calibration_software_version = __version__
        for reftype, name in reference_files_used:
            getattr(result.meta.ref_file, reftype).name = basename(name) if name != "N/A" else "N/A"
        result.meta.ref_file.crds.sw_version = crds.__version__
        if any(name.startswith("crds://") for _, name in reference_files_used):
            result.meta.ref_file.crds.context_used = crds_client.get_context_used(result.crds_observatory)


class LigerIrisStep(LigerIrisStepMixin, Step):
    """Base of the imager steps: one model in, one model out, status in ``meta.cal_step.<class_alias>``."""

    spec = """
    output_ext = string(default='.fits')  # Extension of output files
    """

    def reference_model(self, model, reftype, model_class):
        """Open the ``reftype`` reference for ``model`` (override or CRDS); None when it does not apply (N/A)."""
        try:
            path = self.get_reference_file(model, reftype)
        except OSError as error:
            raise StepInputError(f"{getattr(error, 'filename', None) or error}: cannot read {reftype} reference") from error
        except (Exception, SystemExit) as error:  # crds exits on some failures (no cache, bad context)
            reason = str(error) or type(error).__name__
            raise StepInputError(
                f"{model.meta.filename}: no {reftype} reference (CRDS could not select one: {reason}); "
                f"give one with override_{reftype}"
            ) from error
        if path == "N/A":
            log.info("%s: no %s reference applies (N/A); %s skipped", model.meta.filename, reftype, self.name)
            return None
        reference = datamodels.open(path, model_class=model_class)
        if reference.meta.reftype and reference.meta.reftype.lower() != reftype:
            raise StepInputError(f"{path}: REFTYPE is {reference.meta.reftype}, expected {reftype.upper()}")
        require_same_detector(model, reference, "reference", path)
        return reference

    def reference_window(self, model, reference, array):
        """``array`` of ``reference`` cut to the detector window of ``model``; an error if it cannot be."""
        shape = model.data.shape
        if array.shape == shape:
            return array
        sub = model.meta.subarray
        if sub.name not in (None, "FULL") and None not in (sub.xstart, sub.ystart):
            y0, x0 = sub.ystart - 1, sub.xstart - 1
            if y0 >= 0 and x0 >= 0 and y0 + shape[0] <= array.shape[0] and x0 + shape[1] <= array.shape[1]:
                return array[y0 : y0 + shape[0], x0 : x0 + shape[1]]
            raise StepInputError(
                f"{reference.meta.filename}: window x {sub.xstart}..{sub.xstart + shape[1] - 1}, "
                f"y {sub.ystart}..{sub.ystart + shape[0] - 1} of {model.meta.filename} falls outside "
                f"the reference's {array.shape[1]} x {array.shape[0]} pixels"
            )
        raise StepInputError(
            f"{reference.meta.filename}: reference shape {array.shape} does not match "
            f"{model.meta.filename} shape {shape}"
        )

    def record(self, model, status):
        """Set this step's status keyword and a history entry with its parameters."""
        setattr(model.meta.cal_step, self.class_alias, status)
        pars = {key: value for key, value in self.get_pars().items() if key not in _UNRECORDED_PARAMETERS}
        for reftype in self.reference_file_types:
            pars[f"override_{reftype}"] = getattr(self, f"override_{reftype}", None)
        model.add_history_entry(
            f"{self.class_alias} {status}: {type(self).__name__} parameters {json.dumps(pars, default=str, sort_keys=True)}",
            software={"name": "liger_iris_pipeline", "version": __version__},
        )


class ReferenceCorrectionStep(LigerIrisStep):
    """A step that corrects a frame with one reference file; subclasses say which and implement ``apply``.

    The step is SKIPPED (with a log line) when the reference does not apply (N/A), as in jwst.
    """

    #: The data model class of the reference.
    reference_model_class = None

    def process(self, input_data):
        model = self.open_input(input_data)
        (reftype,) = self.reference_file_types
        reference = self.reference_model(model, reftype, self.reference_model_class)
        if reference is None:
            self.record(model, "SKIPPED")
            return model
        with reference:
            self.apply(model, reference)
        self.record(model, "COMPLETE")
        return model

    def apply(self, model, reference):
        """Correct ``model`` in place with the opened ``reference``."""
        raise NotImplementedError


class LigerIrisPipeline(LigerIrisStepMixin, Pipeline):
    """Base of the imager pipelines: steps run in one process on one model."""

    spec = """
    output_ext = string(default='.fits')  # Extension of output files
    """
    # Each step asks for its own references when it runs.
    prefetch_references = False
