"""Make crds know the ``ligeriri`` observatory: ``crds.ligeriri`` and its name in ALL_OBSERVATORIES.

crds loads an observatory's rules only from ``crds.<observatory>`` and checks names against
``crds.core.constants.ALL_OBSERVATORIES``. ``install()`` adds an import hook that serves
``liger_iris_pipeline/crds_ligeriri`` as ``crds.ligeriri`` and adds ``ligeriri`` to that list when crds
loads it. The pipeline calls ``install()`` itself; ``python -m liger_iris_crds_hook`` writes a ``.pth``
file so that every Python of this environment, and so crds's own command-line tools, know it too.
This module runs at every interpreter start-up, so it imports only ``sys`` there; the rest is imported
when crds is (finders and loaders are duck-typed, no importlib.abc needed).
"""

import sys

OBSERVATORY = "ligeriri"
PLUGIN_MODULE = f"crds.{OBSERVATORY}"
PTH_NAME = "liger_iris_crds_hook.pth"


def _plugin_directory():
    import importlib.util
    from pathlib import Path

    package = importlib.util.find_spec("liger_iris_pipeline")
    return Path(package.submodule_search_locations[0]) / "crds_ligeriri"


def _register_observatory(constants):
    if OBSERVATORY not in constants.ALL_OBSERVATORIES:
        constants.ALL_OBSERVATORIES.append(OBSERVATORY)


class _ConstantsLoader:
    """Loads crds.core.constants as usual, then adds our observatory to it."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_observatory(module)


class LigeririFinder:
    """Serves our plug-in as ``crds.ligeriri`` and hooks the loading of ``crds.core.constants``."""

    def find_spec(self, fullname, path=None, target=None):
        """Asked for every import of the process: anything but our two names returns None at once."""
        if fullname == PLUGIN_MODULE:
            import importlib.util

            directory = _plugin_directory()
            return importlib.util.spec_from_file_location(
                fullname, directory / "__init__.py", submodule_search_locations=[str(directory)]
            )
        if fullname == "crds.core.constants":
            import importlib.machinery

            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None:
                spec.loader = _ConstantsLoader(spec.loader)
            return spec
        return None


def install():
    """Register the hook in this interpreter (idempotent)."""
    if not any(isinstance(finder, LigeririFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LigeririFinder())
    if "crds.core.constants" in sys.modules:
        _register_observatory(sys.modules["crds.core.constants"])


def install_pth(site_packages=None):
    """Write the .pth file that installs the hook at every start of this environment's Python."""
    import sysconfig
    from pathlib import Path

    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text("import liger_iris_crds_hook; liger_iris_crds_hook.install()\n")
    return target


if __name__ == "__main__":
    print(install_pth())
