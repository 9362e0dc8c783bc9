"""``tmtrun`` (or ``python -m liger_iris_pipeline``): run a step or pipeline on a file, like jwst's ``strun``,
with one-line errors.

    tmtrun <alias | ClassName | package.Class | params.cfg | params.asdf> <input.fits | association.json>
           [--output-dir DIR] [--<param>=<value> ...]
    tmtrun <alias | ... | params.asdf> --save-parameters my_params.asdf [--<param>=<value> ...]

Aliases: dq_init, dark_current, flat_field, assign_wcs, process_imager_l2, parse_subarray_map,
merge_subarrays, master_dark, normalize, combine_flats, process_flatfield_l2, distortion_solution,
process_distortion_l2, subtract_images, background,
saturation, nonlinearity, jump, ramp_fit, detector1. Parameters may be written with dashes or underscores
(``--output-dir`` = ``--output_dir``); sub-step parameters of a pipeline as ``--steps.flat_field.skip=true``.
An association runs the step on each science member (merge_subarrays, master_dark, process_flatfield_l2,
distortion_solution, process_distortion_l2: on
each product's members together; background, subtract_images, process_imager_l2: also given the product's
background members) and names each output after its product. Exit status 0 on success, 1 with
``tmtrun: error: <file>: <problem>``; stopped by a signal (Ctrl-C, SIGTERM, SIGHUP), 128 + its number with
``tmtrun: error: <input>: stopped by SIGINT``, no temporary file left.

Progress goes to stdout, one line per finished step (each sub-step of a pipeline, then the pipeline):
``dq_init done in 0.41 s``. Logging as in jwst's ``strun``: ``--verbose`` (DEBUG), ``--log-level LEVEL``,
``--log-file FILE`` (the log goes there too), ``--log-stream stdout|stderr|null`` (default stderr).

A parameter file, INI (.cfg) or ASDF (.asdf, as jwst's), names its step (class) and sets its parameters;
options override it. --save-parameters FILE writes every parameter of the step as it would run to an ASDF file
(given no input, it writes the file and runs nothing), which tmtrun FILE takes back. A parameter file is checked
before anything runs (parameter_files.py): it must hold parameters only, of one of the package's steps, with no
hook, each known to the step and of its type.

Nothing is written over an input: a step's output, ``--log-file`` or ``--save-parameters`` that is one of the
run's input files (the step's file, the frame, an association and its members, a reference) is refused before
the step runs or saves; so are ``--output-file``, ``--suffix`` and ``--output-ext`` values that hold a path
separator or '..', and outputs outside ``--output-dir`` (``output_paths.py``).
"""

import contextlib
import io
import logging
import os
import re
import sys

import stpipe
from stpipe import _cmdline

from liger_iris_pipeline.associations import AssociationError, is_association, load_association
from liger_iris_pipeline.output_paths import same_file
from liger_iris_pipeline.parameter_files import ParameterFileError, check_parameter_file
from liger_iris_pipeline.stopping import Stopped, stopping_signals

# stpipe's own options, spelled with dashes.
_STPIPE_OPTIONS = {"--log-level", "--log-file", "--log-stream", "--save-parameters"}
_OPTION = re.compile(r"^(--[A-Za-z][\w.-]*)(=.*)?$", re.DOTALL)
#: stpipe's option that would do nothing here: the steps take no parameter references from CRDS.
_NO_OP_OPTION = "--disable-crds-steppars"
_RST_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_help(text):
    """Help text as plain text: reStructuredText's inline literals and roles (a ``:class:`` target) without
    their markup, and without stpipe's option that does nothing here (in the usage line and its own help
    block)."""
    text = _RST_ROLE.sub(r"\1", _RST_LITERAL.sub(r"\1", text))
    lines, block_indent = [], None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if line.lstrip().startswith(_NO_OP_OPTION):
            block_indent = indent
            continue
        if block_indent is not None and line.strip() and indent > block_indent:
            continue
        block_indent = None
        lines.append(line.replace(f" [{_NO_OP_OPTION}]", ""))
    return "\n".join(lines) + "\n"


def normalize_options(args):
    """Spell step parameters with underscores, as stpipe's argument parser expects."""
    normalized = []
    for arg in args:
        match = _OPTION.match(arg)
        if match and match.group(1) not in _STPIPE_OPTIONS:
            arg = "--" + match.group(1)[2:].replace("-", "_") + (match.group(2) or "")
        normalized.append(arg)
    return normalized


#: tmtrun's own options that write a file.
_WRITING_OPTIONS = ("--log-file", "--save-parameters")


def check_written_files(args):
    """ValueError naming the option and the file if ``--log-file`` or ``--save-parameters`` names one of the
    files the command line reads (any argument or option value that is a file, and an association's members)."""
    written, read = [], []
    arguments = iter(args)
    for arg in arguments:
        match = _OPTION.match(arg)
        option, value = (match.group(1), match.group(2)[1:] if match.group(2) else None) if match else (None, arg)
        if option in _WRITING_OPTIONS:
            if value is None:
                value = next(arguments, None)
            if value is not None:
                written.append((option, value))
        elif value is not None and os.path.isfile(value):
            read.append(value)
            if is_association(value):
                with contextlib.suppress(AssociationError):  # the step reports a broken association
                    read += [member for product in load_association(value) for member in (*product.science, *product.background)]
    for option, path in written:
        for input_path in read:
            if same_file(path, input_path):
                raise ValueError(f"{path}: {option} would write over the input {input_path}")


#: stpipe's options that take no value; every other option without "=" takes the next argument.
_FLAGS = {"-h", "--help", "-v", "--verbose", "--debug", _NO_OP_OPTION}


def positional_indices(args):
    """Indices in ``args`` of the positional arguments (the step or its parameter file, then the input)."""
    indices, value_next = [], False
    for index, arg in enumerate(args):
        if value_next:
            value_next = False
        elif arg.startswith("-"):
            value_next = "=" not in arg and arg not in _FLAGS
        else:
            indices.append(index)
    return indices


def save_parameters_only(args):
    """``--save-parameters`` without an input: build the step from ``args`` and write its parameters, as stpipe
    does before a run (which, given no input, would run the step on nothing)."""
    step_class, config, name, config_file, parser, known = _cmdline._config_and_class_from_cmdline(args)
    _cmdline._build_step_from_args(step_class, config, name, config_file, parser, known, args)
    print(f"parameters saved to {known.save_parameters}")


def resolve_step(identifier):
    """A bare class name exported by the package (``FlatFieldStep``) becomes its importable path."""
    import liger_iris_pipeline

    candidate = getattr(liger_iris_pipeline, identifier, None)
    if isinstance(candidate, type) and issubclass(candidate, stpipe.Step):
        return f"liger_iris_pipeline.{identifier}"
    return identifier


class ProgressPrinter(logging.Handler):
    """Prints the message of each progress record to ``stream`` at once, whatever the log level."""

    def __init__(self, stream):
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record):
        print(record.getMessage(), file=self.stream, flush=True)


@contextlib.contextmanager
def printing_progress(stream):
    """Print the steps' progress records to ``stream`` while the block runs."""
    from liger_iris_pipeline.base_step import progress

    printer, level = ProgressPrinter(stream), progress.level
    progress.addHandler(printer)
    progress.setLevel(logging.INFO)  # --log-level quiets the log, not the progress lines
    try:
        yield
    finally:
        progress.removeHandler(printer)
        progress.setLevel(level)


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") and len(args) == 1:
        print(plain_help(__doc__), end="")
        return 0
    if any(arg.partition("=")[0] == _NO_OP_OPTION for arg in args):
        print(f"tmtrun: error: {_NO_OP_OPTION}: the steps take no parameters from CRDS (their parameter files "
              "and --<param> options set them)", file=sys.stderr)
        return 1
    args = normalize_options(args)
    try:
        check_written_files(args)
    except ValueError as error:
        print(f"tmtrun: error: {error}", file=sys.stderr)
        return 1
    positional = positional_indices(args)
    if positional:
        if os.path.exists(args[positional[0]]):  # a parameter file, as stpipe tells
            try:
                check_parameter_file(args[positional[0]])
            except ParameterFileError as error:
                print(f"tmtrun: error: {error}", file=sys.stderr)
                return 1
        else:
            args[positional[0]] = resolve_step(args[positional[0]])
    saving = any(_OPTION.match(arg) and _OPTION.match(arg).group(1) == "--save-parameters" for arg in args)
    run = save_parameters_only if saving and len(positional) == 1 else _cmdline.step_from_cmdline
    # stpipe prints a multi-line banner on failure; hold its stdout so an error stays one line.
    held = io.StringIO()
    try:
        with stopping_signals(), printing_progress(sys.stdout), contextlib.redirect_stdout(held):
            run(args)
    except Stopped as stopped:
        named = args[positional[1]] if len(positional) > 1 else "tmtrun"
        print(f"tmtrun: error: {named}: stopped by {stopped}", file=sys.stderr)
        return stopped.exit_status
    except SystemExit as exit_:  # argparse: --help, or a bad option it already reported
        sys.stdout.write(plain_help(held.getvalue()) if held.getvalue() else "")
        return exit_.code if isinstance(exit_.code, int) else 1
    except Exception as error:  # every failure becomes one line naming the file and the problem
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"tmtrun: error: {message}", file=sys.stderr)
        return 1
    sys.stdout.write(held.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
