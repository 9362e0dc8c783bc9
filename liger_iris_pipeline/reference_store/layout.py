"""What a reference store and a CRDS cache share: where their files live, what the files may be called, how
their contents are identified (sha1), and the lock their writers take.

    <root>/config/ligeriri/server_config     context in force, context history, sha1 and size of every file
    <root>/config/ligeriri/ref_cache_subdir_mode   the layout of references/: flat (ours) or instrument
    <root>/mappings/ligeriri/*.pmap|imap|rmap
    <root>/references/ligeriri/*.fits|asdf   (flat; instrument: references/ligeriri/<instrument>/*.fits|asdf)

Our stores and caches are flat, and say so in ``ref_cache_subdir_mode`` (crds's own file: without it crds guesses,
and writes its guess into a writable cache); one without that file is flat. The community's cache
(oirlab/liger-iris-crds-cache) is laid out by instrument, a reference in the directory of the instrument its name
starts with (``reference_instrument``); the fetch reads stores of both layouts and fills flat caches.

The file-name rule (``checked_name``) is the one rule of the store writer, the fetch and the workflow: names
become paths in a store, a cache and URLs, and a name one of them accepted but another refused would break
every later fetch. This module imports no crds, stpipe or stdatamodels: the workflow's planning uses it.
"""

import fcntl
import hashlib
import re
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import LayoutError

OBSERVATORY = "ligeriri"
#: Longest file name: a hidden temporary of it (name plus host, process id and ``.part``) must fit the 255
#: bytes a file system allows on any host that fetches it.
MAX_NAME_LENGTH = 128
#: Extensions of reference files: FITS images, and ASDF files of transforms (distortion).
REFERENCE_EXTENSIONS = (".fits", ".asdf")
#: The kind of a reference file in ``NAME_RULES`` (mappings' kinds are their extensions).
REFERENCE = "reference"
#: The rule for each kind of file (whole-name regular expressions).
NAME_RULES = {
    ".pmap": re.compile(rf"{OBSERVATORY}_\d+\.pmap"),
    ".imap": re.compile(rf"{OBSERVATORY}_[a-z]+_\d+\.imap"),
    ".rmap": re.compile(rf"{OBSERVATORY}_[a-z]+_[a-z]+_\d+\.rmap"),
    REFERENCE: re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\.(?:fits|asdf)"),
}
_KIND_DESCRIPTIONS = {
    ".pmap": "pipeline mapping name (ligeriri_NNNN.pmap)",
    ".imap": "instrument mapping name (ligeriri_<instrument>_NNNN.imap)",
    ".rmap": "reference mapping name (ligeriri_<instrument>_<reftype>_NNNN.rmap)",
    REFERENCE: "reference name (a letter or digit, then letters, digits and _.+- only, ending in .fits or .asdf)",
}
#: The layouts of references/ a store or cache may have (crds's ``ref_cache_subdir_mode``).
FLAT, BY_INSTRUMENT = "flat", "instrument"
SUBDIR_MODES = (FLAT, BY_INSTRUMENT)
#: The file in config/ligeriri/ that says the layout.
SUBDIR_MODE_FILE = "ref_cache_subdir_mode"
#: A reference's instrument, by its name's first field (the same rule as the CRDS plug-in's locate).
_REFERENCE_INSTRUMENT = re.compile(r"(iris|liger)_", re.IGNORECASE)
#: How a Git LFS pointer file starts (the community's reference files are LFS pointers in a plain clone).
LFS_POINTER_START = b"version https://git-lfs.github.com/spec/"
#: How long a writer waits for another writer's lock before it gives up, in seconds.
LOCK_PATIENCE = 600
_LOCK_POLL = 0.05


def checked_name(name, kind, source):
    """``name`` if it is a bare file name of ``kind`` (.pmap, .imap, .rmap or ``REFERENCE``) under the rule, else
    LayoutError naming ``source`` (the file, mapping or option the name comes from)."""
    if not isinstance(name, str) or not name or any(char in name for char in "/\\\0") or ".." in name:
        raise LayoutError(f"{source}: refused file name {name!r}: not a bare file name")
    if not NAME_RULES[kind].fullmatch(name):
        raise LayoutError(f"{source}: refused file name {name!r}: not a {OBSERVATORY} {_KIND_DESCRIPTIONS[kind]}")
    if len(name) > MAX_NAME_LENGTH:
        raise LayoutError(f"{source}: refused file name {name!r}: longer than {MAX_NAME_LENGTH} characters")
    return name


def is_reference(name):
    """Whether ``name`` is a reference's (by its extension), not a mapping's."""
    return name.endswith(REFERENCE_EXTENSIONS)


def reference_instrument(name, source):
    """The instrument directory (iris, liger) of the reference ``name`` in a store laid out by instrument: the
    first field of its name; LayoutError naming ``source`` if the name starts with no instrument."""
    match = _REFERENCE_INSTRUMENT.match(name)
    if not match:
        raise LayoutError(
            f"{source}: reference {name!r} does not start with an instrument (IRIS_, Liger_): no place for it in "
            "a store laid out by instrument"
        )
    return match.group(1).lower()


def check_subdir_mode(mode, source):
    """``mode`` if it is a layout stores and caches may have, else LayoutError naming ``source``."""
    if mode not in SUBDIR_MODES:
        raise LayoutError(f"{source}: unknown layout {mode!r} of references/ (flat or instrument)")
    return mode


def is_lfs_pointer(start):
    """Whether a file whose first bytes are ``start`` is a Git LFS pointer rather than the file it stands for."""
    return start.startswith(LFS_POINTER_START)


def sha1(path):
    """The sha1 of a file, as server_configs record it (``download_metadata``)."""
    digest = hashlib.sha1()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Layout:
    """The directories of a store or cache at ``root``."""

    def __init__(self, root):
        self.root = Path(root)
        self.config_path = self.root / "config" / OBSERVATORY / "server_config"
        self.mappings = self.root / "mappings" / OBSERVATORY
        self.references = self.root / "references" / OBSERVATORY
        self.subdir_mode_path = self.config_path.with_name(SUBDIR_MODE_FILE)
        self.lock_path = self.config_path.with_name("server_config.lock")

    def subdir_mode(self):
        """The layout of references/ this store or cache says (flat where it says none)."""
        if not self.subdir_mode_path.exists():
            return FLAT
        return check_subdir_mode(self.subdir_mode_path.read_text().strip(), self.subdir_mode_path)

    @contextmanager
    def lock(self, patience=None):
        """Hold the writers' lock of this store or cache: one writer at a time reads, changes and writes its
        server_config and files. The kernel drops the lock when its holder dies, so a killed writer never
        leaves it locked; a writer still waiting after ``patience`` seconds gives up with a LayoutError."""
        patience = LOCK_PATIENCE if patience is None else patience
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            give_up = time.monotonic() + patience
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > give_up:
                        raise LayoutError(
                            f"{self.lock_path}: another writer has held this lock for more than {patience} s"
                        ) from None
                    time.sleep(_LOCK_POLL)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
