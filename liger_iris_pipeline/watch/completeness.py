"""Whether a file that is being written is a whole FITS file yet.

A FITS file is a run of HDUs, each a header of 2880-byte blocks ending with the END card, then its data padded
to whole blocks: abs(BITPIX) / 8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn) bytes. The file is whole when every
header ends, every HDU's data are all there and the file ends where its last HDU does, and it holds the
extensions a frame needs (``required``). An instrument that writes through a rename delivers a whole file at
once; one that writes in place passes through states that are whole up to an HDU boundary, so the watcher also
waits until the file has not changed for a moment (``service.SETTLE_SECONDS``).
"""

import math
import os

BLOCK = 2880
CARD = 80


def _header(stream):
    """The keywords of the header at the stream's position ({name: value text}), or None if it does not end."""
    keywords = {}
    while True:
        block = stream.read(BLOCK)
        if len(block) < BLOCK:
            return None
        for start in range(0, BLOCK, CARD):
            card = block[start : start + CARD].decode("ascii", errors="replace")
            name = card[:8].strip()
            if name == "END":
                return keywords
            if card[8:10] == "= ":
                keywords[name] = card[10:].split("/", 1)[0].strip().strip("'").strip()


def _data_bytes(keywords):
    naxis = int(keywords.get("NAXIS", 0))
    if naxis == 0:
        return 0
    elements = math.prod(int(keywords[f"NAXIS{axis}"]) for axis in range(1, naxis + 1))
    bits = abs(int(keywords["BITPIX"]))
    return bits // 8 * int(keywords.get("GCOUNT", 1)) * (int(keywords.get("PCOUNT", 0)) + elements)


def fits_complete(path, required=("SCI",)):
    """True when ``path`` is a whole FITS file holding the extensions (EXTNAME) of ``required``."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as stream:
            offset, names = 0, set()
            while offset < size:
                stream.seek(offset)
                keywords = _header(stream)
                if keywords is None or (offset == 0 and keywords.get("SIMPLE") != "T"):
                    return False
                names.add(keywords.get("EXTNAME", ""))
                offset = stream.tell() + math.ceil(_data_bytes(keywords) / BLOCK) * BLOCK
    except (OSError, ValueError, KeyError):  # gone, unreadable, or a header without its axes yet
        return False
    return offset == size and size > 0 and set(required) <= names
