"""CRDS observatory package ``ligeriri`` (IRIS and Liger), loaded by crds as ``crds.ligeriri``.

crds finds observatory packages only as ``crds.<observatory>``; ``liger_iris_crds_hook`` makes this
directory importable under that name. It uses only crds, so it never pulls in the pipeline.
Reference types and their parkeys (data-model paths) are in ``specs/combined_specs.json``; the community
cache's names and selection keywords are understood beside ours (``community``).
"""

import os.path

from crds.core import reftypes

from .community import FILEKIND_ALIASES, install_reftype_aliases  # noqa: F401 (FILEKIND_ALIASES: {theirs: ours})

HERE = os.path.abspath(os.path.dirname(__file__))

TYPES = reftypes.from_package_file("ligeriri", __file__)

OBSERVATORY = TYPES.observatory
INSTRUMENTS = TYPES.instruments
EXTENSIONS = TYPES.extensions
TEXT_DESCR = TYPES.text_descr
FILEKINDS = TYPES.filekinds

INSTRUMENT_FIXERS = {}
TYPE_FIXERS = {}

PROVENANCE_KEYWORDS = ("META.DESCRIPTION", "META.PEDIGREE", "META.USEAFTER", "META.AUTHOR")
USEAFTER_KEYWORDS = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")
DEFAULT_SELECTORS = ("Match", "UseAfter")

install_reftype_aliases()
