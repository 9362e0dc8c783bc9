"""The version of the code a step runs: the package version and a digest of every project module it imports.

A product must say which code made it, and the workflow must rerun a step when that code changes. Snakemake
tracks a ``script:`` rule's own script but not the modules it imports, and the package version only changes
at a release. So the version of a step is ``<package version>+<digest>``, the digest taken over the source of
the step's module and of every project module it imports, directly or through other modules (found by
reading their ``import`` statements, lazy ones inside functions included, without importing anything), and
over the data files (schemas, CRDS rules, shipped parameter files) beside those modules. The workflow passes it to each
rule as a parameter and the step records the same string in its product (CAL_VER).

Why the transitive imports and not the whole package: an edit of the quick-look code must not rerun every
calibration step of a night, and an edit of ``stack.py`` must rerun the steps that stack frames and no other.
"""

import ast
import hashlib
import sys
from functools import cache
from importlib.util import find_spec
from pathlib import Path

PACKAGE = __package__
PACKAGE_DIRECTORY = Path(__file__).parent
#: The crds start-up hook, a top-level module of this project: crds loads our plug-in through it, by name.
CRDS_HOOK = "liger_iris_crds_hook"
#: Modules loaded by name rather than by an import statement: {importer: [loaded packages]}.
LOADED_BY_NAME = {CRDS_HOOK: [f"{PACKAGE}.crds_ligeriri"]}
#: Files beside a module that are data it reads (schemas, rules, parameter files).
DATA_SUFFIXES = (".yaml", ".json", ".cfg", ".asdf", ".rmap", ".imap", ".pmap")


def code_version(*roots):
    """``<package version>+<12 hex digits>`` of the project code that the modules ``roots`` (dotted names, or
    paths of scripts) run."""
    from . import __version__

    digest = hashlib.sha1()
    named = {_name(path): path for path in code_files(*roots)}
    for name in sorted(named):  # by name, not by path: the same code gives the same version wherever it lies
        digest.update(f"{name}\0".encode() + named[name].read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _name(path):
    """A file's name in the digest: relative to the package's parent (the crds hook: its file name)."""
    return str(path.relative_to(PACKAGE_DIRECTORY.parent) if path.is_relative_to(PACKAGE_DIRECTORY) else path.name)


def code_files(*roots):
    """The sorted source and data files of the project modules that ``roots`` import, themselves included."""
    files = set()
    for root in roots:
        if str(root).endswith(".py"):
            files.add(Path(root).resolve())
            names = _imported_project_modules(_source_of(Path(root)), package=None)
        else:
            names = {root}
        for name in names:
            files |= _closure(name)
    return sorted(files)


@cache
def _closure(name):
    """The files of module ``name`` and of every project module it imports, transitively."""
    files, seen, pending = set(), set(), [name]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module)
        if path is None:
            continue
        files.add(path)
        if path.is_relative_to(PACKAGE_DIRECTORY):  # the crds hook lies beside the package, among other files
            files |= _data_files(path.parent)
        pending += _parents(module)
        pending += _imports_of(module)
        for loaded in LOADED_BY_NAME.get(module, ()):
            pending += _package_modules(loaded)
    return frozenset(files)


def is_project_module(name):
    return name == CRDS_HOOK or name == PACKAGE or name.startswith(PACKAGE + ".")


@cache
def module_file(name):
    """The source file of the project module ``name`` (a package's ``__init__.py``), or None if none exists."""
    if name == CRDS_HOOK:
        spec = find_spec(CRDS_HOOK)
        return Path(spec.origin).resolve() if spec and spec.origin else None
    base = PACKAGE_DIRECTORY.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _source_of(path):
    return ast.parse(path.read_bytes(), filename=str(path))


@cache
def _imports_of(name):
    """The project modules that module ``name`` imports (anywhere in it, functions included)."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return sorted(_imported_project_modules(_source_of(path), package))


def _imported_project_modules(tree, package):
    """Project modules named by the import statements of ``tree``; relative ones resolved against ``package``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            names.add(base)
            # ``from package import module`` names a module; ``from module import function`` does not.
            names |= {f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}")}
    return {name for name in names if is_project_module(name)}


def _parents(name):
    """The packages that importing ``name`` runs first (``a.b.c``: ``a``, ``a.b``)."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _package_modules(name):
    """Module ``name`` and, if it is a package, every module below it."""
    path = module_file(name)
    if path is None or path.name != "__init__.py":
        return [name]
    return [name] + [
        f"{name}.{'.'.join(module.relative_to(path.parent).with_suffix('').parts)}".removesuffix(".__init__")
        for module in sorted(path.parent.rglob("*.py"))
        if module != path
    ]


@cache
def _data_files(directory):
    """Data files in ``directory`` and in its subdirectories that are not Python packages."""
    files = set()
    for path in directory.iterdir():
        if path.is_dir():
            if path.name != "__pycache__" and not (path / "__init__.py").exists():
                files |= _data_files(path)
        elif path.suffix in DATA_SUFFIXES:
            files.add(path.resolve())
    return frozenset(files)


if __name__ == "__main__":  # python -m liger_iris_pipeline.code_version <module>...: the files and the version
    for file in code_files(*sys.argv[1:]):
        print(file)
    print(code_version(*sys.argv[1:]))
