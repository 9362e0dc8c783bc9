"""Reading the image arrays of a FITS file into memory, with exactly the values astropy gives.

A plain, unscaled (or unsigned-integer) image of an uncompressed file is read straight from the file into
native-order memory and byte-swapped there, in parts on two threads: astropy's own read costs three passes
(a copy to memory, a slow uint64 pass to scale DQ, a byte swap to native order afterwards), and a read through
a memory map holds the file's pages as well as the copy. Every other image (a compressed image HDU, data
scaled by BSCALE/BZERO or with BLANK, any HDU of a file compressed whole) is read by astropy, which
decompresses and scales it, and then copied to native byte order. No other bytes are ever taken as pixels.
"""

import builtins
import bz2
import gzip
import io
import lzma
import os
import zipfile
from concurrent import futures
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = ["FITS_BLOCK", "FitsReadError", "image_dtype", "image_shape", "open_headers", "read_images"]

FITS_BLOCK = 2880  # bytes: every FITS file is a whole number of these blocks

#: Reads of FITS arrays in parts of this many bytes, on two threads: filling fresh memory costs more than
#: the copy itself, and two threads fill it about 1.3x faster than one.
_READ_PART = 16 * 2**20
_READERS = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="fits-read")
#: numpy type of each FITS BITPIX (native byte order: ``_read_part`` swaps the big-endian bytes).
_BITPIX_TYPES = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
#: FITS's offset-integer convention (BSCALE 1, this BZERO): the type astropy gives for each BITPIX.
_OFFSET_INTEGERS = {8: (-128, "i1"), 16: (1 << 15, "u2"), 32: (1 << 31, "u4"), 64: (1 << 63, "u8")}
#: The HDU types that hold an image (a random-groups primary HDU does not).
_IMAGE_TYPES = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
#: The first bytes of every uncompressed FITS file.
_FITS_START = b"SIMPLE  ="


def _unzip(data):
    """The one file of the zip archive ``data`` (astropy reads no other kind), its CRC checked."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if len(names) != 1:
            raise ValueError(f"a zip archive of {len(names)} files, not one")
        return archive.read(names[0])


#: The whole-file compressions astropy reads (by their first bytes): kind and a decompressor that checks the
#: stream to its end (CRC and length where the format has them).
_COMPRESSIONS = {
    b"\x1f\x8b": ("gzip", gzip.decompress),
    b"BZh": ("bzip2", bz2.decompress),
    b"\xfd7zXZ\x00": ("xz", lzma.decompress),
    b"PK\x03\x04": ("zip", _unzip),
}


class FitsReadError(ValueError):
    """A file, or an HDU, whose data cannot be decompressed, scaled or trusted; the message names the HDU but
    not the file (the caller knows it)."""


def open_headers(path):
    """The HDU list of ``path`` with every header read and no data (astropy scales and decompresses images
    when they are read, in ``read_images``).

    A file compressed whole (gzip, bzip2, xz, zip) is decompressed into memory first and checked to the end of
    its stream: astropy, reading it itself, takes a truncated file as far as it goes and silently drops the
    HDUs after the cut (ERR and DQ, say).
    """
    with builtins.open(path, "rb") as file:
        start = file.read(len(_FITS_START))
        size = os.fstat(file.fileno()).st_size
    kind, decompress = next((found for magic, found in _COMPRESSIONS.items() if start.startswith(magic)), (None, None))
    if not decompress:
        if start == _FITS_START and size % FITS_BLOCK:
            raise FitsReadError(f"truncated: {size} bytes is not a whole number of {FITS_BLOCK}-byte FITS blocks")
        return fits.open(path, memmap=False, lazy_load_hdus=False)
    try:
        content = decompress(Path(path).read_bytes())
    except (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile) as error:
        reason = _first_line(error)
        raise FitsReadError(f"the file is {kind}-compressed and cannot be decompressed whole: {reason}") from error
    return fits.open(io.BytesIO(content), lazy_load_hdus=False)


def _first_line(error):
    """The first line of the message of ``error``, or its type's name."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def image_dtype(header):
    """The numpy type (native byte order) of the array astropy gives for the image of ``header``: the
    stored type; for FITS's offset-integer convention (BSCALE 1, BZERO 2**(BITPIX-1), or -128 for BITPIX 8)
    the unsigned (signed for BITPIX 8) type; for other BSCALE/BZERO/BLANK on integers float32 (BITPIX 8
    and 16) or float64 (32 and 64). Floating-point images keep their type when scaled."""
    bitpix = header["BITPIX"]
    stored = np.dtype(_BITPIX_TYPES[bitpix])
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    if bitpix < 0 or (bscale == 1 and bzero == 0 and "BLANK" not in header):
        return stored
    offset, offset_type = _OFFSET_INTEGERS[bitpix]
    if bscale == 1 and bzero == offset:
        return np.dtype(offset_type)
    return np.dtype(np.float32 if bitpix <= 16 else np.float64)


def read_images(hdulist, path, placeholders=None, while_reading=None):
    """Give every image HDU of ``hdulist`` (from ``open_headers(path)``) its array in memory, in native byte
    order, with astropy's values. An HDU named in ``placeholders`` ({EXTNAME: dtype}) gets read-only zeros of that
    type instead, which take no memory. ``while_reading()`` is called while the arrays are read.

    Raises FitsReadError naming the HDU when astropy cannot decompress or scale its data, or when the bytes
    after an uncompressed image's data are not the zeros FITS pads with.
    """
    placeholders = placeholders or {}
    with builtins.open(path, "rb", buffering=0) as file:
        uncompressed_file = file.read(len(_FITS_START)) == _FITS_START
        parts = []
        try:
            for index, hdu in enumerate(hdulist):
                if type(hdu) not in _IMAGE_TYPES or not image_shape(hdu.header):
                    continue
                if uncompressed_file and type(hdu) is not fits.CompImageHDU:
                    _check_padding(file, hdulist.fileinfo(index), hdu, index)
                if hdu.name in placeholders:
                    hdu.data = np.broadcast_to(np.zeros((), placeholders[hdu.name]), image_shape(hdu.header))
                elif uncompressed_file and _readable_raw(hdu):
                    hdu.data, reads = _read_native(file, hdulist.fileinfo(index)["datLoc"], hdu.header)
                    parts += reads
                else:
                    hdu.data = _read_through_astropy(hdu, index)
            if while_reading:
                while_reading()
        finally:
            futures.wait(parts)  # no read outlives the open file
    for part in parts:
        part.result()  # raises what a read raised


def image_shape(header):
    """The array shape (numpy order) of the image of ``header``; () when it holds no data."""
    shape = tuple(header[f"NAXIS{axis}"] for axis in range(header["NAXIS"], 0, -1))
    return shape if shape and all(shape) else ()


def _check_padding(file, info, hdu, index):
    """The bytes between the end of the data of the image ``hdu`` (by its header) and the end of its last FITS
    block are zeros, as FITS requires: a header whose NAXISn undercounts the data within that block would
    otherwise give a silently reshaped array (astropy catches the rest: truncation, misplaced headers)."""
    padding = bytearray(info["datSpan"] - hdu.size)
    count = os.preadv(file.fileno(), [padding], info["datLoc"] + hdu.size)
    if any(padding[:count]):
        raise FitsReadError(
            f"HDU {index} ({hdu.name or 'no EXTNAME'}): the {len(padding)} bytes after its data are not FITS zero "
            f"padding: its NAXISn ({' x '.join(map(str, image_shape(hdu.header)[::-1]))}) do not describe the data"
        )


def _readable_raw(hdu):
    """Whether the stored bytes of ``hdu`` are its values once byte-swapped (and, for the offset-integer
    convention, sign-flipped): an uncompressed image, BSCALE 1, no BLANK, BZERO 0 or the offset."""
    header = hdu.header
    if type(hdu) not in (fits.PrimaryHDU, fits.ImageHDU) or "BLANK" in header or header.get("BSCALE", 1) != 1:
        return False
    return header.get("BZERO", 0) == 0 or image_dtype(header).kind in "iu"


def _read_through_astropy(hdu, index):
    """The array of ``hdu`` as astropy gives it (decompressed, scaled), copied to native byte order."""
    try:
        data = hdu.data
    except Exception as error:  # astropy's decompression and scaling raise many types
        what = f"its {hdu.compression_type} compressed data" if isinstance(hdu, fits.CompImageHDU) else "its data"
        hdu_name = f"HDU {index} ({hdu.name or 'no EXTNAME'})"
        raise FitsReadError(f"{hdu_name}: cannot read {what}: {_first_line(error)}") from error
    return np.array(data, dtype=data.dtype.newbyteorder("="))


def _read_native(file, position, header):
    """The image array of ``header`` stored at byte ``position`` of ``file``, in native byte order, and the
    futures of the reads that fill it."""
    delivered = image_dtype(header)
    stored = np.dtype(_BITPIX_TYPES[header["BITPIX"]])
    flip = None
    if delivered != stored:  # the offset-integer convention: adding 2**(bits-1) modulo 2**bits flips the top bit
        flip = np.array(1 << (8 * stored.itemsize - 1), f"u{stored.itemsize}").view(delivered)[()]
    array = np.empty(image_shape(header), delivered)
    flat = array.reshape(-1)
    step = _READ_PART // delivered.itemsize
    reads = [
        _READERS.submit(_read_part, file, position + start * delivered.itemsize, flat[start : start + step], flip)
        for start in range(0, flat.size, step)
    ]
    return array, reads


def _read_part(file, position, part, flip):
    """Fill ``part`` from ``file`` at byte ``position`` (big-endian values) in native byte order, XORed with
    ``flip`` unless it is None."""
    buffer = memoryview(part.view(np.uint8))
    done = 0
    while done < len(buffer):
        count = os.preadv(file.fileno(), [buffer[done:]], position + done)
        if count == 0:
            raise EOFError(f"the file ends {len(buffer) - done} bytes into an array")
        done += count
    if part.itemsize > 1:
        part.byteswap(inplace=True)
    if flip is not None:
        part ^= flip
