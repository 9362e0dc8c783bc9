"""Step parameter files, INI (``.cfg``) and ASDF (``.asdf``): read safely, checked against their step, converted.

stpipe reads both formats (``config_parser.load_config_file``: ASDF when the file is one, else INI), and so does
everything that takes a parameter file here: ``tmtrun <file> <input>``, ``<Step>.call(input, config_file=)``
and the workflow (``steps.<step>.cfg``). Each file is checked first by ``check_parameter_file``, which refuses it
with a ParameterFileError naming the file and the problem when it

- cannot be read, is larger than ``MAX_BYTES``, or is not a parameter file of its format (an ``.asdf`` file must
  be ASDF);
- (ASDF) holds anything but parameters: binary blocks, a tag other than YAML's own and the ASDF core's
  bookkeeping (an array, a model, any object an extension would build), a ``$ref`` to another file, aliases
  that expand beyond ``MAX_NODES`` nodes, or a parameter value that is not a scalar or a list of scalars;
- names a class that is not one of the package's steps (``registry.py``: nothing a file names is imported), or
  a step other than the one it is given to, or a pipeline step the pipeline does not run there;
- sets a pre- or post-hook (stpipe runs a hook that is not a Python name as a shell command: parameters never
  run programs);
- sets a parameter the step does not have or a value of the wrong type (stpipe's validation against the step's
  spec), or null where the parameter's default is not None (stpipe would pass the null on unchecked).

The package ships both formats beside each step, ``<step folder>/<alias>.cfg`` and ``<alias>.asdf``. The
``.cfg`` is the source of truth; the ``.asdf`` is written from it, holding the parameters the ``.cfg`` sets (not
every default: a default changed in the code is not frozen by the file), typed as the step reads them:

    python -m liger_iris_pipeline.parameter_files            # write each shipped .asdf from its .cfg
    python -m liger_iris_pipeline.parameter_files --check    # exit 1 naming each shipped .asdf that differs
    python -m liger_iris_pipeline.parameter_files my.cfg my.asdf   # convert a .cfg of your own

(``tmtrun my.cfg --save-parameters my.asdf`` writes every parameter instead, defaults included, as jwst's
``strun`` does.)
"""

import argparse
import os
import re
import sys
from pathlib import Path

import yaml

from .registry import BY_ALIAS, BY_CLASS, STEPS
from .yaml_nodes import expanded_size

#: Largest parameter file read (bytes): a pipeline's parameters, every default written out, take a few kB.
MAX_BYTES = 1 << 20
#: Most YAML nodes an ASDF parameter file may hold once its aliases are expanded.
MAX_NODES = 10_000
#: Hook parameters: stpipe runs a hook that is not a Python name as a shell command.
HOOKS = ("pre_hooks", "post_hooks")
_ASDF_MAGIC = b"#ASDF "
_BLOCK_MAGIC = b"\xd3BLK"
#: Tags an ASDF parameter file may hold: YAML's own scalars and collections, and the ASDF core's bookkeeping
#: (the root, the software that wrote the file, its history).
_ALLOWED_TAG = re.compile(
    r"tag:yaml\.org,2002:(str|int|float|bool|null|timestamp|map|seq)"
    r"|tag:stsci\.edu:asdf/core/(asdf|software|extension_metadata|history_entry)-\d+\.\d+\.\d+"
)
#: The keys of an ASDF parameter file's tree that say which step and what parameters (``meta`` and the ASDF
#: bookkeeping say nothing the step reads).
_STEP_KEYS = ("class", "name", "parameters", "steps")
#: This module's name, also when it runs as ``python -m`` (then ``__name__`` is ``__main__``).
MODULE = f"{__package__}.parameter_files"


class ParameterFileError(ValueError):
    """A parameter file refused; the message is one line naming the file and the problem."""


def read_parameter_file(path):
    """The parameters of the file ``path`` as stpipe reads them (a ConfigObj: ``class``, ``name``, the parameters
    and a pipeline's ``steps`` sections), after checking that it is a parameter file of its format holding
    parameters only (ParameterFileError otherwise). Nothing it names is imported or checked against a step."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise ParameterFileError(f"{path}: cannot read ({error.strerror or error})") from error
    if len(data) > MAX_BYTES:
        raise ParameterFileError(f"{path}: more than {MAX_BYTES} bytes, more than a parameter file holds")
    asdf_file = data.startswith(_ASDF_MAGIC)
    if asdf_file:
        _check_asdf(path, data)
    elif path.lower().endswith(".asdf"):
        raise ParameterFileError(f"{path}: not an ASDF file (it does not begin with {_ASDF_MAGIC.decode().strip()})")
    from stpipe import config_parser  # noqa: PLC0415 (stpipe only when a file is read)

    try:
        return config_parser.load_config_file(path)
    except Exception as error:  # configobj and asdf raise their own types for every kind of bad file
        # stpipe reads a file asdf refuses as INI: asdf's reason is the one that applies.
        reason = (asdf_file and _asdf_problem(path)) or _first_line(error)
        raise ParameterFileError(f"{path}: not a readable parameter file ({reason})") from error


def _asdf_problem(path):
    """Why asdf cannot open the file ``path``, or None."""
    import asdf  # noqa: PLC0415

    try:
        asdf.open(path, lazy_load=False, memmap=False).close()
    except Exception as error:  # asdf's own types, and yaml's
        return _first_line(error)
    return None


def _check_asdf(path, data):
    """ParameterFileError unless the ASDF file ``path`` (its bytes ``data``) holds a step's parameters only."""
    if _BLOCK_MAGIC in data:
        raise ParameterFileError(f"{path}: holds binary blocks (arrays): a parameter file holds parameters only")
    try:
        text = data.decode("utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        nodes = expanded_size(root, MAX_NODES)
    except UnicodeDecodeError as error:
        raise ParameterFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except yaml.MarkedYAMLError as error:
        line = f"line {error.problem_mark.line + 1}: " if error.problem_mark else ""
        raise ParameterFileError(f"{path}: not a readable ASDF file ({line}{error.problem})") from error
    except (yaml.YAMLError, ValueError) as error:
        raise ParameterFileError(f"{path}: not a readable ASDF file ({_first_line(error)})") from error
    if nodes > MAX_NODES:
        raise ParameterFileError(f"{path}: its aliases expand to more than {MAX_NODES} YAML nodes; write the values out")
    for node in _nodes(root):
        where = f"{path}: line {node.start_mark.line + 1}"
        if not _ALLOWED_TAG.fullmatch(node.tag):
            raise ParameterFileError(f"{where}: tag {node.tag} refused (a parameter file holds parameters only)")
        if isinstance(node, yaml.MappingNode) and any(key.value == "$ref" for key, _ in node.value):
            raise ParameterFileError(f"{where}: $ref refused (a parameter file refers to no other file)")
    tree = yaml.load(text, Loader=_TreeLoader)  # noqa: S506 (a SafeLoader; its only addition reads the checked tags)
    _check_tree(path, tree)


def _nodes(root):
    """Every node under ``root`` once (aliases share nodes)."""
    seen, pending = set(), [root] if root is not None else []
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            pending += [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            pending += node.value


class _TreeLoader(yaml.SafeLoader):
    """YAML's safe loader, reading the ASDF core's bookkeeping tags (checked by then) as plain data."""


def _plain(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TreeLoader.add_multi_constructor("tag:stsci.edu:asdf/", _plain)


def _check_tree(path, tree, where=""):
    """ParameterFileError unless ``tree`` has the shape of stpipe's step parameters (schema step_config-1.0.0, and
    the ``name`` stpipe's reader needs): ``class``, ``name``, ``parameters`` (each a scalar or a list of
    scalars) and a pipeline's ``steps``, each the same."""
    if not isinstance(tree, dict):
        raise ParameterFileError(f"{path}: {where}not a mapping of class, name and parameters")
    if not isinstance(tree.get("class"), str) or not tree["class"]:
        raise ParameterFileError(f"{path}: {where}no class (the step the parameters are for, e.g. liger_iris_pipeline.FlatFieldStep)")
    if not isinstance(tree.get("name"), str) or not tree["name"]:
        raise ParameterFileError(f"{path}: {where}no name (the step's name, e.g. flat_field)")
    parameters = tree.get("parameters")
    if not isinstance(parameters, dict):
        raise ParameterFileError(f"{path}: {where}no parameters mapping")
    for key, value in parameters.items():
        if not (_is_scalar(value) or isinstance(value, list) and all(map(_is_scalar, value))):
            raise ParameterFileError(f"{path}: {where}{key}: a {type(value).__name__} is not a parameter value")
    steps = tree.get("steps", [])
    if not isinstance(steps, list):
        raise ParameterFileError(f"{path}: {where}steps is not a list of steps")
    for index, step in enumerate(steps):
        name = step.get("name") if isinstance(step, dict) else None
        _check_tree(path, step, f"{where}steps/{name if isinstance(name, str) and name else index}: ")


def _is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def registered_entry(name):
    """The registry entry of the step a parameter file's ``class`` names (its alias, class name,
    ``liger_iris_pipeline.<Class>`` or the path of its defining module), or None."""
    name = str(name)
    entry = BY_ALIAS.get(name) or BY_CLASS.get(name.rsplit(".", 1)[-1])
    if entry and name in (entry.alias, entry.class_name, f"{__package__}.{entry.class_name}", f"{entry.module_name}.{entry.class_name}"):
        return entry
    return None


def _step_class(entry):
    import liger_iris_pipeline  # noqa: PLC0415 (the class is imported only once the file names a registered one)

    return getattr(liger_iris_pipeline, entry.class_name)


def check_parameter_file(path, step_class=None, subclass_runs=False):
    """Check the parameter file ``path`` (see the module) for ``step_class``, the step it is given to, and return
    the class that runs. The file's class must be ``step_class`` or one of its bases (``step_class`` runs, as in
    ``call``), or with ``subclass_runs`` a subclass of it (which runs, as in ``from_config_file``); without
    ``step_class`` the class the file names runs (``tmtrun <file>``). ParameterFileError naming the file otherwise."""
    path = os.fspath(path)
    config = read_parameter_file(path)
    named = config.get("class")
    file_class = None
    if named:
        entry = registered_entry(named)
        if entry is None:
            raise ParameterFileError(
                f"{path}: class {named} is not a step of {__package__} (tmtrun --help lists them; "
                "nothing else is imported from a parameter file)"
            )
        file_class = _step_class(entry)
    runs = step_class or file_class
    if runs is None:
        raise ParameterFileError(f"{path}: no class (the step the parameters are for, e.g. class = \"{__package__}.FlatFieldStep\")")
    if file_class is not None and not issubclass(runs, file_class):
        if not (subclass_runs and issubclass(file_class, runs)):
            raise ParameterFileError(f"{path}: parameters of {file_class.__name__} (class {named}), given to {runs.__name__}")
        runs = file_class
    spec = runs.load_spec_file()
    _check_section(path, config, runs, spec)
    _validate(path, config, runs, spec)
    return runs


def _check_section(path, section, step_class, spec, where=""):
    """Hooks, nulls and a pipeline's steps of a file's ``section`` of parameters for ``step_class`` (``spec``: its
    spec, ``load_spec_file``)."""
    hooks = [key for key in HOOKS if section.get(key)]
    if hooks:
        raise ParameterFileError(f"{path}: {where}{' and '.join(hooks)} refused (parameters never run programs)")
    from configobj.validate import Validator  # noqa: PLC0415

    for key, value in section.items():
        if value is None and key in spec and not isinstance(spec[key], dict):
            try:
                default = Validator().get_default_value(spec[key])
            except Exception:  # no default (KeyError), or a check only stpipe's validator knows
                default = None
            if default is not None:
                raise ParameterFileError(f"{path}: {where}{key} is null: give a value of its type (default {default!r})")
    step_defs = getattr(step_class, "step_defs", {})
    steps = section.get("steps") or {}
    for name, step_section in steps.items() if isinstance(steps, dict) else ():
        if name not in step_defs:
            raise ParameterFileError(
                f"{path}: {where}steps/{name}: {step_class.__name__} has no step {name} (its steps: {', '.join(step_defs) or 'none'})"
            )
        named = step_section.get("class")
        expected = step_defs[name]
        # stpipe ignores a pipeline step's class (the pipeline's step_defs say which runs): another one is a mistake.
        if named and getattr(registered_entry(named), "class_name", None) != expected.__name__:
            raise ParameterFileError(f"{path}: {where}steps/{name}: class {named}, but {step_class.__name__} runs {expected.__name__} there")
        if step_section.get("config_file"):
            check_parameter_file(os.path.join(os.path.dirname(path), step_section["config_file"]), expected)
        _check_section(path, step_section, expected, spec["steps"][name], f"{where}steps/{name}/")


def _validate(path, config, step_class, spec):
    """Validate ``config`` (read from ``path``) against ``step_class``'s ``spec``, as stpipe does when it builds
    the step (``from_config_section``), without building it."""
    from stpipe import config_parser  # noqa: PLC0415

    for key in ("class", "name", "config_file"):
        config.pop(key, None)
    try:
        config = step_class.merge_config(config, path)  # a pipeline's steps' own parameter files
        config_parser.validate(config, spec, root_dir=os.path.dirname(path))
    except Exception as error:  # stpipe's ValidationError, or configobj's for a value of the wrong type
        raise ParameterFileError(f"{path}: {_first_line(error)}") from error


def _first_line(error):
    return " ".join(str(error).split()) or type(error).__name__


# --- Conversion --------------------------------------------------------------------------------------------


def step_tree(path):
    """The step parameters of the parameter file ``path`` as the tree of an ASDF parameter file: ``class``,
    ``name`` (when given), ``parameters`` (what the file sets, typed as the step reads them) and a pipeline's
    ``steps`` (each with its class, its name and what the file sets for it)."""
    from stpipe import config_parser  # noqa: PLC0415

    step_class = check_parameter_file(path)
    given = read_parameter_file(path)
    typed = read_parameter_file(path)
    for key in ("class", "name"):
        typed.pop(key, None)
    config_parser.validate(typed, step_class.load_spec_file(), root_dir=os.path.dirname(os.fspath(path)))
    tree = {"class": given["class"]}
    if given.get("name"):
        tree["name"] = given["name"]
    tree["parameters"] = _set_parameters(given, typed)
    steps = [
        {
            "class": section.get("class") or f"{__package__}.{step_class.step_defs[name].__name__}",
            "name": name,
            "parameters": _set_parameters(section, typed["steps"][name]),
        }
        for name, section in (given.get("steps") or {}).items()
    ]
    if steps:
        tree["steps"] = steps
    return tree


def _set_parameters(given, typed):
    """{parameter: typed value} of the parameters a file's section ``given`` sets (``typed``: the same, validated)."""
    return {key: typed[key] for key in given if key not in ("class", "name", "steps")}


def asdf_step_tree(path):
    """The step parameters of the ASDF parameter file ``path``: its tree's ``class``, ``name``, ``parameters`` and
    ``steps`` (what ``step_tree`` gives for the file it was written from)."""
    read_parameter_file(path)  # safe to open
    import asdf  # noqa: PLC0415

    with asdf.open(path, lazy_load=False, memmap=False) as asdf_file:
        return {key: _plain_data(asdf_file.tree[key]) for key in _STEP_KEYS if key in asdf_file.tree}


def _plain_data(value):
    if isinstance(value, dict):
        return {key: _plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_data(item) for item in value]
    return value


def write_asdf(cfg, target):
    """Write the ASDF parameter file ``target`` with the parameters of the ``.cfg`` ``cfg`` (``step_tree``)."""
    import asdf  # noqa: PLC0415

    from .atomic import replacing  # noqa: PLC0415

    tree = step_tree(cfg)
    tree["meta"] = {
        "description": f"Parameters of {tree['class']}, written from {Path(cfg).name} by python -m {MODULE} "
        "(edit the .cfg, then run that again)"
    }
    with replacing(target) as temporary:
        asdf.AsdfFile(tree).write_to(temporary)


def shipped_asdf_differences():
    """The shipped ``<alias>.asdf`` files that are missing or do not hold what their ``.cfg`` says."""
    return [entry.asdf for entry in STEPS if not entry.asdf.is_file() or asdf_step_tree(entry.asdf) != step_tree(entry.cfg)]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Write the shipped ASDF parameter files from their .cfg (the source of truth), check them, "
        "or convert a .cfg of your own.",
    )
    parser.add_argument("--check", action="store_true", help="only check: exit 1 naming each shipped .asdf that differs")
    parser.add_argument("files", nargs="*", metavar="CFG ASDF", help="convert CFG to ASDF instead of the shipped files")
    args = parser.parse_args(argv)
    try:
        if args.files:
            if len(args.files) != 2 or args.check:
                parser.error("give one .cfg and the .asdf to write, without --check")
            write_asdf(*args.files)
            return 0
        stale = shipped_asdf_differences()
        if args.check:
            for path in stale:
                print(f"{path}: differs from {path.with_suffix('.cfg').name} (python -m {MODULE} writes it)", file=sys.stderr)
            return 1 if stale else 0
        for path in stale:
            write_asdf(path.with_suffix(".cfg"), path)
            print(f"wrote {path}")
    except (ParameterFileError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
