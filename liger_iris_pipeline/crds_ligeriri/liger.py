"""Instrument hooks crds looks for as ``crds.ligeriri.liger``: the community's READMODE DEFAULT for every rmap
(``community.fallback_header``)."""

from . import FILEKINDS
from .community import instrument_hooks

globals().update(instrument_hooks("liger", FILEKINDS))
