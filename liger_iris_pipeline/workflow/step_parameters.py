"""The steps' parameters of a night checked against each step's spec when the workflow is planned.

A misspelt parameter or a wrong value in a step's parameter file (``.cfg`` or ``.asdf``) or in the config would
otherwise fail each job of that step, one after the other, minutes into the night. Checking needs the step
classes (stpipe and the steps' modules, a second or two of imports), so a passed check is remembered: the same
configuration is not checked again until a parameter file, the config's parameters or the package changes.
"""

import hashlib
import json
import os
from pathlib import Path

from ..code_version import code_version
from ..parameter_files import ParameterFileError, check_parameter_file, read_parameter_file
from ..registry import BY_ALIAS
from .config import WORKFLOW_OWNED_PARAMETERS, ConfigFileError, check_workflow_owned_parameters


#: The steps of the calibration chain, in order: the workflow's per-step rules, or its fused process_imager_l2.
CHAIN_STEPS = ("dq_init", "dark_current", "flat_field", "assign_wcs")


def configured_parameters(config, step, observation=None):
    """The step's parameters from the workflow ``config``, with the observation's overrides on top."""
    parameters = dict(config.get("steps", {}).get(step, {}).get("parameters") or {})
    if observation is not None:
        entry = next(item for item in config["observations"] if item["name"] == observation)
        parameters.update(entry.get("steps", {}).get(step) or {})
    return parameters


def fused_chain_parameters(config, observation):
    """Parameters of the fused chain (process_imager_l2) for ``observation``: each step's parameter file where the
    config names one (process_imager_l2.cfg names the workflow's own .cfg of each step), then its parameters. The
    workflow's fused jobs and the watcher both run with them."""
    steps = {}
    for step in CHAIN_STEPS:
        configured = config.get("steps", {}).get(step, {}).get("cfg")
        steps[step] = {"config_file": os.path.abspath(configured)} if configured else {}
        steps[step].update(configured_parameters(config, step, observation))
    return {"steps": steps}


def check_step_parameters(uses, cache_directory):
    """Check every (step alias, parameter file, {parameter: value}, where) of ``uses``: the file is a safe
    parameter file of the step (``parameter_files.check_parameter_file``), the file and the parameters set no key
    the workflow owns to anything but its default, and they fit the step's spec. ``where`` names the parameters'
    place in the config. Raises ConfigFileError naming the file or key; remembers a passed check in
    ``cache_directory``."""
    uses = sorted(uses, key=lambda use: (use[0], use[1], use[3]))
    stamp = Path(cache_directory) / f"step_parameters_{_digest(uses)}.ok"
    if stamp.exists():
        return
    import liger_iris_pipeline  # noqa: PLC0415 (only when the check runs)

    for alias, cfg, parameters, where in uses:
        entry = BY_ALIAS[alias]
        step_class = getattr(liger_iris_pipeline, entry.class_name)
        try:
            file_parameters = read_parameter_file(cfg)
        except ParameterFileError as error:
            raise ConfigFileError(str(error)) from error
        named = file_parameters.get("class")
        if named and named.rsplit(".", 1)[-1] != entry.class_name:
            raise ConfigFileError(f"{cfg}: class = {named}, but steps/{alias} runs {entry.class_name}")
        check_workflow_owned_parameters(_not_at_default(file_parameters, step_class), cfg)
        check_workflow_owned_parameters(_not_at_default(parameters, step_class), where)
        for name, section in file_parameters.get("steps", {}).items():
            check_workflow_owned_parameters(_not_at_default(section, getattr(step_class, "step_defs", {}).get(name)), cfg)
        try:
            check_parameter_file(cfg, step_class)
        except ParameterFileError as error:
            raise ConfigFileError(str(error)) from error
        _validate(step_class, cfg, parameters, where)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    for old in stamp.parent.glob("step_parameters_*.ok"):
        old.unlink(missing_ok=True)
    stamp.touch()


def _not_at_default(parameters, step_class):
    """``parameters`` without the workflow-owned ones that ``step_class`` would have anyway: given their default
    (as a file written by ``tmtrun --save-parameters`` gives every parameter), they set nothing. An empty
    ``input_dir`` is its default (stpipe reads an unset one as "")."""
    if step_class is None:
        return parameters
    from configobj.validate import Validator  # noqa: PLC0415

    spec, validator = step_class.load_spec_file(), Validator()
    kept = {}
    for key, value in parameters.items():
        if key in WORKFLOW_OWNED_PARAMETERS and key in spec:
            try:
                typed, default = validator.check(spec[key], value), validator.get_default_value(spec[key])
            except Exception:  # a value of the wrong type, left for the spec's check to name
                typed, default = value, object()
            if typed == default or (default is None and typed == ""):
                continue
        kept[key] = value
    return kept


def _validate(step_class, cfg, parameters, where):
    """Build the step from its parameter file with ``parameters`` on top, as a job would, letting stpipe validate."""
    try:
        config, config_file = step_class.build_config(None, config_file=str(cfg), **parameters)
        step_class.from_config_section(config, config_file=config_file)
    except Exception as error:  # stpipe's ValidationError, or configobj's for a value of the wrong type
        origin = f"{cfg} with {where}" if parameters else str(cfg)
        raise ConfigFileError(f"{origin}: {_first_line(error)}") from error


def _digest(uses):
    """Digest of what the check depends on: the package's step code, each parameter file's content and the
    parameters."""
    digest = hashlib.sha1(code_version(*(BY_ALIAS[alias].module_name for alias, *_ in uses)).encode())
    for alias, cfg, parameters, where in uses:
        text = Path(cfg).read_bytes() if Path(cfg).is_file() else b"<missing>"
        digest.update(json.dumps([alias, str(cfg), parameters, where], sort_keys=True, default=str).encode())
        digest.update(text)
    return digest.hexdigest()[:16]


def _first_line(error):
    return " ".join(str(error).split()) or type(error).__name__
