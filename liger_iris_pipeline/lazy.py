"""Package attributes imported on first use (PEP 562): importing a package then costs only what is used."""

from importlib import import_module


def lazy_attributes(package, modules):
    """``__getattr__`` and ``__dir__`` for ``package`` whose attributes ``modules`` maps to relative module names."""
    namespace = vars(import_module(package))

    def __getattr__(name):
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(modules[name], package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(modules))

    return __getattr__, __dir__
