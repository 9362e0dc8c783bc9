"""A batch job's products kept across its failure, so that one bad frame does not cost its batch-mates' work.

With ``frames_per_job`` above 1, one Snakemake job reduces a batch of frames in one process. When one frame
fails, the job fails, and Snakemake removes every output of a failed job: the good frames' products too.
So a batch job reduces every frame it can, and writes each product first to a hidden staging area under the
output directory, ``<output_dir>/.staged/<observation>/<exposure>_cal.<key>.fits``, then links it (a hard
link, or a copy where links are not possible) to the product's own path. When the job fails, the staged files
stay; the rerun (after the bad frame is fixed or removed) links the staged product of a frame instead of
reducing it again, when its key still matches. When the job succeeds, its staged files are removed.

The key is a digest of everything that made the product: the frame's and its background exposures' identity
(real path, size, modification time), the product's path, and the job's description (``job_description``:
the step, the version of the code it runs and of the libraries the package needs, the Python version, the
parameters and the content of the .cfg files, the CRDS context and the identity of every reference file,
and of every file a parameter names). A staged product whose key differs is never used, and is removed the
next time its frame is reduced.
"""

import hashlib
import json
import os
import re
import sys
import traceback
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from ..atomic import copy_file, os_error_reason, replacing
from ..code_version import code_version
from ..registry import BY_CLASS
from .job import is_expected, one_line

#: The staging area's directory under the output directory (hidden: no product is ever looked for there).
STAGING_DIRECTORY = ".staged"
KEY_DIGITS = 16


class BatchError(ValueError):
    """Some frames of a batch failed; the message names each and its problem, in one line."""


class ProductWriteError(ValueError):
    """A product could not be written (a full disk, a read-only directory): no frame's fault."""


def file_identity(path):
    """(real path, size, modification time in ns) of the file at ``path``: a file changed in place or
    replaced has another identity."""
    status = os.stat(path)
    return [os.path.realpath(path), status.st_size, status.st_mtime_ns]


def dependency_versions(distribution="liger_iris_pipeline"):
    """{name: version} of the libraries the package requires (not those of its extras)."""
    versions = {}
    for requirement in requires(distribution) or []:
        if "extra ==" in requirement:
            continue
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def named_files(value):
    """The identity of every existing file that a parameter value (nested dicts and lists) names."""
    if isinstance(value, dict):
        return [identity for item in value.values() for identity in named_files(item)]
    if isinstance(value, (list, tuple)):
        return [identity for item in value for identity in named_files(item)]
    if isinstance(value, str) and os.path.isfile(value):
        return [file_identity(value)]
    return []


def job_description(step_class, parameters, cfg_files, references, context):
    """What makes every product of a batch job besides its own inputs, as JSON-able data."""
    return {
        "step": step_class,
        "code": code_version(BY_CLASS[step_class].module_name),
        "libraries": dependency_versions(),
        "python": sys.version,
        "parameters": parameters,
        "parameter_files": named_files(parameters),
        "cfg": {str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in cfg_files},
        "context": context,
        "references": sorted(file_identity(path) for path in references),
    }


class Staging:
    """The staging area of the products under ``output_dir``, for a job described by ``description``."""

    def __init__(self, output_dir, description):
        self.output_dir = Path(output_dir)
        self.root = self.output_dir / STAGING_DIRECTORY
        self._description = json.dumps(description, sort_keys=True, default=str)

    def key(self, product, inputs):
        """The key of ``product`` made from the files ``inputs`` by this job."""
        made_of = json.dumps([str(product), [file_identity(path) for path in inputs]])
        return hashlib.sha256(f"{self._description}\0{made_of}".encode()).hexdigest()[:KEY_DIGITS]

    def staged_path(self, product, key):
        product = Path(product)
        relative = product.relative_to(self.output_dir) if product.is_relative_to(self.output_dir) else Path(product.name)
        return self.root / relative.parent / f"{product.stem}.{key}{product.suffix}"

    def staged_versions(self, product):
        """Every staged file of ``product``, whatever its key."""
        staged = self.staged_path(product, "0" * KEY_DIGITS)
        pattern = re.compile(rf"{re.escape(Path(product).stem)}\.[0-9a-f]{{{KEY_DIGITS}}}{re.escape(staged.suffix)}")
        if not staged.parent.is_dir():
            return []
        return [path for path in staged.parent.iterdir() if pattern.fullmatch(path.name)]

    def reuse(self, product, key):
        """Place the staged product of ``key`` at ``product`` and return True if there is one; remove the
        staged versions of ``product`` made by anything else."""
        staged = self.staged_path(product, key)
        for other in self.staged_versions(product):
            if other != staged:
                other.unlink(missing_ok=True)
        if not staged.is_file():
            return False
        with _writing(product):
            _place(staged, product)
        return True

    def keep(self, product, key, save):
        """``save(path)`` the product to its staged path (atomically), then place it at ``product``.

        Raises ProductWriteError naming ``product`` when a file cannot be written (a full disk, a read-only
        directory)."""
        staged = self.staged_path(product, key)
        with _writing(product):
            staged.parent.mkdir(parents=True, exist_ok=True)
            save(staged)
            _place(staged, product)

    def discard(self, products):
        """Remove every staged version of ``products``."""
        for product in products:
            for staged in self.staged_versions(product):
                staged.unlink(missing_ok=True)


@contextmanager
def _writing(product):
    """Turn a failure to write a file of ``product`` (an OSError, or an error raised from one) into
    ProductWriteError naming ``product`` and the system's words."""
    try:
        yield
    except Exception as error:
        if _os_error_of(error) is None:
            raise
        raise ProductWriteError(f"{product}: cannot write ({os_error_reason(error)})") from error


def _place(staged, product):
    """Hard-link ``staged`` to ``product`` (atomically; a copy where the file system cannot link), dated now:
    Snakemake compares the product's date with its inputs'."""
    Path(product).parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(product) as temporary:
            os.link(staged, temporary)
    except OSError:
        copy_file(staged, product)
    os.utime(product)


def _os_error_of(error):
    """The OSError that ``error`` is, or was raised from (a library may re-raise it as another type), or None."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error


def run_batch(frames, reduce, staging, log):
    """Reduce each frame of ``frames``, [(frame, [background frames], product)], with ``reduce(frame,
    backgrounds)`` (which returns the product's model) and save the products through ``staging``: a product
    staged with a matching key is reused, not reduced again.

    A frame that fails is reported in the log (a traceback only for an unexpected error) and the others are
    reduced; then BatchError names the failed frames, and the staged products of the others stay for the
    rerun. A product that cannot be written stops the batch at once (ProductWriteError: every frame would
    fail alike). On success the batch's staged files are removed."""
    failures, staged = [], 0
    for frame, backgrounds, product in frames:
        key = staging.key(product, [frame, *backgrounds])
        if staging.reuse(product, key):
            print(f"{product}: reused, staged by an earlier run of this batch ({key})", file=log, flush=True)
            staged += 1
            continue
        try:
            result = reduce(frame, backgrounds)
        except Exception as error:
            if not is_expected(error):
                traceback.print_exc(file=log)
            message = one_line(error)
            failures.append(message if Path(frame).name in message else f"{frame}: {message}")
            print(f"error: {failures[-1]}", file=log, flush=True)
            continue
        staging.keep(product, key, result.save)
        staged += 1
    if failures:
        kept = "1 good product is" if staged == 1 else f"{staged} good products are"
        raise BatchError(
            f"{len(failures)} of {len(frames)} frames failed ({'; '.join(failures)}); {kept} staged in "
            f"{staging.root} for the rerun"
        )
    staging.discard(product for _, _, product in frames)
