"""The workflow's YAML config files, checked with a safe loader before Snakemake reads them.

Snakemake 9 reads a config file with PyYAML's ``FullLoader``, which builds Python objects for tags such
as ``!!python/name:`` and ``!!python/object:``, and when the file's top level says ``__use_yte__: true``
it evaluates the Python expressions of a YTE template. A config says what to reduce, never what to run:
the Snakefile checks every config file here first, with ``yaml.safe_load``, and refuses both.
"""

import yaml


class ConfigFileError(ValueError):
    """A config file the workflow refuses; the message names the file and the problem."""


def check_config_file(path):
    """Raise ConfigFileError unless ``path`` is plain YAML (safe-loadable, no YTE template)."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read ({error.strerror or error})") from error
    except yaml.constructor.ConstructorError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        raise ConfigFileError(
            f"{path}: line {line}: {error.problem} (configs are read with a safe YAML loader: no Python tags)"
        ) from error
    except yaml.YAMLError as error:
        raise ConfigFileError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from error
    if isinstance(document, dict) and "__use_yte__" in document:
        raise ConfigFileError(f"{path}: __use_yte__ is refused (YTE templates run Python expressions)")


def check_config_files(paths):
    """``check_config_file`` on each of ``paths``."""
    for path in paths:
        check_config_file(path)
