"""The default parameter files shipped with the package: each step's .cfg (the source of truth; the .asdf beside
it is written from it, ``parameter_files.py``)."""

from .registry import BY_ALIAS


def default_config(alias):
    """Path (a string, as stpipe's config reader wants) of the shipped .cfg of the step or pipeline ``alias``."""
    try:
        return str(BY_ALIAS[alias].cfg)
    except KeyError:
        raise KeyError(f"no shipped config for {alias!r}; known: {', '.join(BY_ALIAS)}") from None
