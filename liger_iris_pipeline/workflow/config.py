"""The workflow's YAML config: checked safely, validated with short messages, and workflow-owned keys refused.

Snakemake 9 reads a config file with PyYAML's ``FullLoader``, which builds Python objects for tags such
as ``!!python/name:`` and when the file's top level says ``__use_yte__: true`` evaluates the Python
expressions of a YTE template. A config says what to reduce, never what to run: the Snakefile checks every
config file here first. The check reads the file's YAML structure without building it (``yaml.compose``),
so a file of a few kilobytes whose aliases would expand into billions of nodes (a "billion laughs") is
refused before any loader or validator walks it, and so is a file larger than any night's config.
"""

import json
from pathlib import Path

import jsonschema
import yaml

from ..yaml_nodes import expanded_size

#: Largest config file read (bytes): a night of thousands of frames lists globs, not files.
MAX_CONFIG_BYTES = 1 << 20
#: Most YAML nodes the config may hold once its aliases are expanded.
MAX_CONFIG_NODES = 100_000
#: Step parameters the workflow sets itself: whether and where a step saves a file besides the job's product,
#: where inputs are looked for, and what runs. Given in a config or a step's .cfg they could write outside the
#: output directory or over an input. (``suffix`` and ``output_ext`` only name files a step saves itself.)
WORKFLOW_OWNED_PARAMETERS = (
    "save_results",
    "output_dir",
    "output_file",
    "output_use_model",
    "output_use_index",
    "search_output_file",
    "input_dir",
    "pre_hooks",
    "post_hooks",
)


class ConfigFileError(ValueError):
    """A config file the workflow refuses; the message names the file and the problem."""


def check_config_file(path):
    """Raise ConfigFileError unless ``path`` is plain YAML of a sensible size: safe-loadable, no YTE template,
    no alias expansion beyond ``MAX_CONFIG_NODES`` nodes."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigFileError(f"{path}: {size} bytes, more than a config may hold ({MAX_CONFIG_BYTES})")
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        try:
            nodes = expanded_size(root, MAX_CONFIG_NODES)
        except ValueError as error:  # an alias inside the node it names
            raise ConfigFileError(f"{path}: {error}") from error
        if nodes > MAX_CONFIG_NODES:
            raise ConfigFileError(
                f"{path}: its aliases expand to more than {MAX_CONFIG_NODES} YAML nodes (a config of "
                f"{len(text)} characters); write the values out"
            )
        document = yaml.safe_load(text)
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


def validate_config(config, schema_path, source):
    """Raise ConfigFileError with the one problem that best explains why ``config`` does not fit the schema,
    and the path of the offending key (``observations/0/raw``), in one line; ``source`` names the config."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(json.loads(json.dumps(config))))
    if problem is not None:
        where = "/".join(str(part) for part in problem.absolute_path) or "top level"
        raise ConfigFileError(f"{source}: {where}: {_short(problem.message)}")


def config_with_defaults(config, schema_path):
    """``config`` with the schema's defaults filled in where a key is missing (as Snakemake's ``validate``
    does), for programs that read a workflow config outside Snakemake."""
    schema = yaml.safe_load(Path(schema_path).read_text())

    def fill(value, node):
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node
        if isinstance(value, dict):
            for key, child in node.get("properties", {}).items():
                if key not in value and "default" in child:
                    value[key] = json.loads(json.dumps(child["default"]))
                if key in value:
                    fill(value[key], child)
        elif isinstance(value, list) and "items" in node:
            for item in value:
                fill(item, node["items"])
        return value

    return fill(json.loads(json.dumps(config)), schema)


def _short(message, limit=300):
    """A validation message cut to one readable line (jsonschema quotes whole values in some)."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def check_workflow_owned_parameters(parameters, where):
    """Raise ConfigFileError if ``parameters`` (a step's, from the config or a .cfg) set a key the workflow
    owns; ``where`` names them (``steps/flat_field/parameters``, a .cfg path)."""
    owned = sorted(set(parameters) & set(WORKFLOW_OWNED_PARAMETERS))
    if owned:
        raise ConfigFileError(
            f"{where}: {', '.join(owned)} refused: the workflow writes each job's product itself "
            f"(<output_dir>/<observation>/<exposure>_<suffix>.fits), and steps save nothing else and run no hooks"
        )
