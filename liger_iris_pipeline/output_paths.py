"""Where a run may write: never over one of its inputs, never outside its output directory, and only under
names a FITS header can hold.

Plain Python (no stpipe, crds or stdatamodels), so that the workflow's planner checks its plan by the same
rules as the steps check their saves. Each check raises OutputPathError, a one-line message naming the file
or parameter and the problem.
"""

import os

#: The characters a FITS header value can hold (FILENAME is the file's name): printable ASCII.
_HEADER_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F))
_SEPARATORS = tuple({"/", "\\", os.sep, os.altsep} - {None})


class OutputPathError(ValueError):
    """A name or an output path a run must not use; the message names it and the problem."""


def check_header_filename(path):
    """The name of ``path`` can be written into a FITS header (as FILENAME): printable ASCII only."""
    name = os.path.basename(os.fspath(path))
    bad = sorted(set(name) - _HEADER_CHARACTERS)
    if bad:
        raise OutputPathError(
            f"{name!r}: a file name a FITS header cannot hold (non-ASCII or non-printable {''.join(bad)!r})"
        )


def check_name_parameter(parameter, value):
    """``value`` of ``parameter`` (output_file, suffix, output_ext) is a plain name: no path separator, no
    '..', and characters a FITS header can hold. The directory of an output is output_dir's, never a name's."""
    if value is None:
        return
    text = str(value)
    if any(separator in text for separator in _SEPARATORS) or ".." in text:
        raise OutputPathError(
            f"{parameter} {text!r}: a name may not contain a path separator or '..' (the directory is output_dir)"
        )
    try:
        check_header_filename(text)
    except OutputPathError as error:
        raise OutputPathError(f"{parameter} {error}") from None


def same_file(path, other):
    """Whether ``path`` and ``other`` are one file (one device and inode: the same path, a symbolic or a hard
    link); False if either does not exist."""
    try:
        first, second = os.stat(path), os.stat(other)
    except (OSError, ValueError):
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def is_within(path, directory):
    """Whether ``path`` lies in ``directory`` or below it, symbolic links resolved."""
    directory = os.path.realpath(directory)
    return os.path.commonpath([os.path.realpath(path), directory]) == directory


def check_output_path(path, inputs=(), output_dir=None):
    """A run may write ``path``: it is none of ``inputs`` (paths), lies in ``output_dir`` when one is given,
    and its name can be written into a FITS header."""
    check_header_filename(path)
    for input_path in inputs:
        if same_file(path, input_path):
            raise OutputPathError(f"{path}: the output would overwrite the input {input_path}")
    if output_dir is not None and not is_within(path, output_dir):
        raise OutputPathError(f"{path}: the output would lie outside the output directory {output_dir}")
