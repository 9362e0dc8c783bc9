"""The steps' parameters of a night checked against each step's spec when the workflow is planned.

A misspelt parameter or a wrong value in a step's .cfg or in the config would otherwise fail each job of
that step, one after the other, minutes into the night. Checking needs the step classes (stpipe and the
steps' modules, a second or two of imports), so a passed check is remembered: the same configuration is
not checked again until a .cfg, the config's parameters or the package changes.
"""

import hashlib
import json
from pathlib import Path

from ..code_version import code_version
from ..registry import BY_ALIAS
from .config import ConfigFileError, check_workflow_owned_parameters


def check_step_parameters(uses, cache_directory):
    """Check every (step alias, .cfg path, {parameter: value}, where) of ``uses``: the .cfg and the parameters
    set no key the workflow owns, and fit the step's spec. ``where`` names the parameters' place in the config.
    Raises ConfigFileError naming the file or key; remembers a passed check in ``cache_directory``."""
    uses = sorted(uses, key=lambda use: (use[0], use[1], use[3]))
    stamp = Path(cache_directory) / f"step_parameters_{_digest(uses)}.ok"
    if stamp.exists():
        return
    from stpipe import config_parser  # noqa: PLC0415 (only when the check runs)

    for alias, cfg, parameters, where in uses:
        entry = BY_ALIAS[alias]
        try:
            file_parameters = config_parser.load_config_file(str(cfg))
        except Exception as error:  # configobj raises its own types for every kind of bad file
            raise ConfigFileError(f"{cfg}: not a readable parameter file ({_first_line(error)})") from error
        check_workflow_owned_parameters(file_parameters, cfg)
        check_workflow_owned_parameters(parameters, where)
        for section in file_parameters.get("steps", {}).values():
            check_workflow_owned_parameters(section, cfg)
        named = file_parameters.get("class")
        if named and named.rsplit(".", 1)[-1] != entry.class_name:
            raise ConfigFileError(f"{cfg}: class = {named}, but steps/{alias} runs {entry.class_name}")
        _validate(alias, cfg, parameters, where)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    for old in stamp.parent.glob("step_parameters_*.ok"):
        old.unlink(missing_ok=True)
    stamp.touch()


def _validate(alias, cfg, parameters, where):
    """Build the step from its .cfg with ``parameters`` on top, as a job would, letting stpipe validate."""
    import liger_iris_pipeline  # noqa: PLC0415

    step_class = getattr(liger_iris_pipeline, BY_ALIAS[alias].class_name)
    try:
        config, config_file = step_class.build_config(None, config_file=str(cfg), **parameters)
        step_class.from_config_section(config, config_file=config_file)
    except Exception as error:  # stpipe's ValidationError, or configobj's for a value of the wrong type
        origin = f"{cfg} with {where}" if parameters else str(cfg)
        raise ConfigFileError(f"{origin}: {_first_line(error)}") from error


def _digest(uses):
    """Digest of what the check depends on: the package's step code, each .cfg's text and the parameters."""
    digest = hashlib.sha1(code_version(*(BY_ALIAS[alias].module_name for alias, *_ in uses)).encode())
    for alias, cfg, parameters, where in uses:
        text = Path(cfg).read_bytes() if Path(cfg).is_file() else b"<missing>"
        digest.update(json.dumps([alias, str(cfg), parameters, where], sort_keys=True, default=str).encode())
        digest.update(text)
    return digest.hexdigest()[:16]


def _first_line(error):
    return " ".join(str(error).split()) or type(error).__name__
