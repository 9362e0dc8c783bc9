"""The FITS reader against astropy: every kind of image HDU it accepts (every BITPIX, the offset-integer
conventions, BSCALE/BZERO/BLANK, compressed HDUs, gzip/bzip2 files, 2-D and 4-D, placeholders, reads in parts)
gives astropy's values and type, in native byte order; what astropy cannot read, or a header that does not
describe its data, is refused naming the HDU."""

import bz2
import gzip
import io
import lzma
import zipfile

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_array_equal

from liger_iris_pipeline.datamodels import fits_reader

pytestmark = pytest.mark.science

RNG = np.random.default_rng(17)


def full_range(dtype, shape):
    """Random values over the whole range of the integer ``dtype``, its extremes included."""
    info = np.iinfo(dtype)
    values = RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    values.flat[:2] = info.min, info.max
    return values


def floats(dtype, shape):
    """Random values of ``dtype`` with a NaN, both infinities and the extremes among them."""
    values = RNG.normal(100.0, 50.0, size=shape).astype(dtype)
    values.flat[:5] = np.nan, np.inf, -np.inf, np.finfo(dtype).max, np.finfo(dtype).tiny
    return values


def stored(dtype, **scaling):
    """A kind of image: the stored values of ``dtype`` (of shape ``shape``) and the scaling keywords written
    beside them, unchanged (astropy writes unsigned and int8 arrays with their BZERO convention itself)."""

    def values(shape):
        kind = np.dtype(dtype).kind
        return (floats if kind == "f" else full_range)(dtype, shape), scaling

    return values


#: Every kind of uncompressed image: name -> values(shape) -> (stored array, scaling keywords).
KINDS = {
    "bitpix8": stored(np.uint8),
    "bitpix16": stored(np.int16),
    "bitpix32": stored(np.int32),
    "bitpix64": stored(np.int64),
    "bitpix-32": stored(np.float32),
    "bitpix-64": stored(np.float64),
    "int8-bzero": stored(np.int8),
    "uint16-bzero": stored(np.uint16),
    "uint32-bzero": stored(np.uint32),
    "uint64-bzero": stored(np.uint64),
    "int16-bscale-bzero": stored(np.int16, BSCALE=0.5, BZERO=10.0),
    "int32-bscale": stored(np.int32, BSCALE=1e-3),
    "uint8-bscale": stored(np.uint8, BSCALE=2.0, BZERO=-3.0),
    "int64-bzero": stored(np.int64, BZERO=5.0),
    "int16-blank": stored(np.int16, BLANK=-32768),
    "int32-blank-bscale": stored(np.int32, BLANK=-(2**31), BSCALE=4.0),
    "uint16-blank": stored(np.uint16, BLANK=7),
    "float32-bscale": stored(np.float32, BSCALE=2.0),
    "float64-bzero": stored(np.float64, BZERO=1.5),
}
SHAPES = {"2d": (5, 7), "4d": (2, 3, 5, 7)}


def image_hdu(values, scaling, name, primary=False):
    hdu = (fits.PrimaryHDU if primary else fits.ImageHDU)(values, do_not_scale_image_data=bool(scaling))
    hdu.header.update(scaling)
    if not primary:
        hdu.name = name
    return hdu


def zip_of(*contents):
    """A zip archive of one file per content."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        for number, content in enumerate(contents):
            writer.writestr(f"file{number}.fits", content)
    return archive.getvalue()


#: How a FITS file can be compressed whole (astropy reads each of them).
COMPRESSORS = {"plain": None, "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress, "zip": zip_of}


def write(path, hdus, container="plain"):
    """Write ``hdus`` to ``path`` (whatever its name), as a plain FITS file or compressed whole."""
    fits.HDUList(hdus).writeto(path)
    if COMPRESSORS[container]:
        path.write_bytes(COMPRESSORS[container](path.read_bytes()))
    return path


def read(path, **options):
    """The HDU list of ``path`` as the reader gives it, with the dtype ``image_dtype`` predicted for each HDU
    from its header before the read."""
    hdulist = fits_reader.open_headers(path)
    predicted = [fits_reader.image_dtype(hdu.header) if hdu.is_image and hdu.header["NAXIS"] else None for hdu in hdulist]
    fits_reader.read_images(hdulist, path, **options)
    return hdulist, predicted


def assert_as_astropy(path, hdulist, predicted, skip=()):
    """Every image of ``hdulist`` holds what astropy reads from ``path``: the same values (NaN where astropy
    has NaN) and type, in native byte order, in memory of its own."""
    with fits.open(path) as expected:
        assert len(hdulist) == len(expected)
        for mine, theirs, dtype in zip(hdulist, expected, predicted):
            if theirs.name in skip or not theirs.is_image or theirs.data is None:
                continue
            assert mine.data.dtype == theirs.data.dtype.newbyteorder("=") == dtype, theirs.name
            assert mine.data.dtype.isnative and mine.data.flags.writeable and mine.data.flags.c_contiguous
            assert_array_equal(mine.data, theirs.data)


@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")  # the largest float32 x BSCALE
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
@pytest.mark.parametrize("container", COMPRESSORS)
@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS)
def test_every_image_kind_reads_as_astropy(tmp_path, kind, container, shape):
    values, scaling = kind(shape)
    hdus = [
        fits.PrimaryHDU(),
        image_hdu(floats(np.float32, shape), {}, "SCI"),
        image_hdu(values, scaling, "KIND"),
        image_hdu(full_range(np.uint32, shape), {}, "DQ"),
        fits.BinTableHDU.from_columns([fits.Column(name="X", format="J", array=np.arange(3))], name="TABLE"),
    ]
    path = write(tmp_path / "kind.fits", hdus, container)
    hdulist, predicted = read(path)
    with hdulist:
        assert_as_astropy(path, hdulist, predicted)


@pytest.mark.parametrize("kind", ["bitpix-32", "uint32-bzero", "int16-bscale-bzero"])
def test_a_primary_image_reads_as_astropy(tmp_path, kind):
    values, scaling = KINDS[kind]((4, 9))
    path = write(tmp_path / "primary.fits", [image_hdu(values, scaling, "PRIMARY", primary=True)])
    hdulist, predicted = read(path)
    with hdulist:
        assert_as_astropy(path, hdulist, predicted)


#: Compressed image HDUs: compression -> the kinds of values astropy compresses with it.
COMPRESSED = [
    (compression, name)
    for compression, names in {
        "RICE_1": ["int16", "int32", "uint8", "uint32", "float32", "int16-bscale"],
        "GZIP_1": ["int16", "int32", "uint32", "float32", "float32-lossless", "float64-lossless"],
        "GZIP_2": ["int16", "int32", "uint32", "float32", "float32-lossless"],
        "PLIO_1": ["plio-int32", "uint8"],
        "HCOMPRESS_1": ["int16", "int32", "float32"],
        "NOCOMPRESS": ["int16", "float32"],
    }.items()
    for name in names
]
COMPRESSED_VALUES = {
    "int16": lambda shape: (full_range(np.int16, shape), {}),
    "int32": lambda shape: (RNG.integers(-(2**20), 2**20, shape).astype(np.int32), {}),
    "uint8": lambda shape: (full_range(np.uint8, shape), {}),
    "uint32": lambda shape: (full_range(np.uint32, shape), {}),
    "plio-int32": lambda shape: (RNG.integers(0, 2**12, shape).astype(np.int32), {}),  # astropy 8.0.2 corrupts memory on PLIO values >= 2**16
    "float32": lambda shape: (floats(np.float32, shape), {}),
    "float32-lossless": lambda shape: (floats(np.float32, shape), {"quantize_level": 0.0}),
    "float64-lossless": lambda shape: (floats(np.float64, shape), {"quantize_level": 0.0}),
    "int16-bscale": lambda shape: (full_range(np.int16, shape) * 0.25 + 100.0, {"scale": ("int16", 0.25, 100.0)}),
}


def compressed_hdu(compression, name, shape, extname="SCI"):
    values, options = COMPRESSED_VALUES[name](shape)
    scale = options.pop("scale", None)
    hdu = fits.CompImageHDU(values, name=extname, compression_type=compression, **options)
    if scale:  # stored as int16 with BSCALE and BZERO
        hdu.scale(scale[0], bscale=scale[1], bzero=scale[2])
    return hdu


@pytest.mark.parametrize("container", ["plain", "gzip"])
@pytest.mark.parametrize(("compression", "name"), COMPRESSED, ids=[f"{c}-{n}" for c, n in COMPRESSED])
def test_compressed_image_hdus_read_as_astropy_decompresses_them(tmp_path, compression, name, container):
    shape = (37, 45) if compression in ("HCOMPRESS_1", "PLIO_1") else (2, 3, 37, 45)
    hdus = [fits.PrimaryHDU(), compressed_hdu(compression, name, shape), image_hdu(full_range(np.uint32, shape), {}, "DQ")]
    path = write(tmp_path / "compressed.fits", hdus, container)
    hdulist, predicted = read(path)
    with hdulist:
        assert_as_astropy(path, hdulist, predicted)


def test_scaled_compressed_hdu_keeps_astropys_scaling(tmp_path):
    """The BSCALE/BZERO of a compressed integer image are applied, as astropy applies them."""
    path = write(tmp_path / "scaled.fits", [fits.PrimaryHDU(), compressed_hdu("RICE_1", "int16-bscale", (8, 9))])
    hdulist, _ = read(path)
    with hdulist, fits.open(path, do_not_scale_image_data=True) as unscaled:
        assert hdulist["SCI"].data.dtype == np.float32
        assert_array_equal(hdulist["SCI"].data, unscaled["SCI"].data * np.float32(0.25) + np.float32(100.0))


@pytest.mark.parametrize("container", ["plain", "gzip"])
def test_placeholders_take_the_place_of_unread_arrays(tmp_path, container):
    """A placeholder is read-only zeros of the given type and the header's shape, holding no memory; it can
    stand for a compressed HDU too, which is then not decompressed. The other arrays are read as astropy."""
    shape = (2, 3, 5, 7)
    hdus = [
        fits.PrimaryHDU(),
        image_hdu(floats(np.float32, shape), {}, "SCI"),
        compressed_hdu("RICE_1", "float32", shape[-2:], extname="ERR"),
        image_hdu(full_range(np.uint32, shape), {}, "DQ"),
    ]
    path = write(tmp_path / "partial.fits", hdus, container)
    hdulist, predicted = read(path, placeholders={"ERR": np.float32, "DQ": np.uint32})
    with hdulist:
        for name, placeholder_shape, dtype in (("ERR", shape[-2:], np.float32), ("DQ", shape, np.uint32)):
            placeholder = hdulist[name].data
            assert placeholder.shape == placeholder_shape and placeholder.dtype == dtype
            assert not placeholder.any() and not any(placeholder.strides)
            with pytest.raises(ValueError, match="read-only"):
                placeholder[(0,) * placeholder.ndim] = 1
        assert_as_astropy(path, hdulist, predicted, skip=("ERR", "DQ"))


def test_arrays_read_in_parts_come_back_exactly(tmp_path, monkeypatch):
    """Arrays are read in parts on two threads: parts that end anywhere within an array (here every 12 bytes,
    not a whole number of 8-byte values) still give every value, the sign-flipped top bits included."""
    monkeypatch.setattr(fits_reader, "_READ_PART", 12)
    kinds = ["bitpix8", "bitpix16", "bitpix-32", "bitpix-64", "int8-bzero", "uint16-bzero", "uint32-bzero", "uint64-bzero"]
    hdus = [fits.PrimaryHDU()] + [image_hdu(*KINDS[kind]((3, 7, 13)), kind.upper()) for kind in kinds]
    path = write(tmp_path / "parts.fits", hdus)
    hdulist, predicted = read(path)
    with hdulist:
        assert_as_astropy(path, hdulist, predicted)


def test_plain_images_are_read_without_astropy(tmp_path, monkeypatch):
    """The hot path: an uncompressed float32 SCI and a uint32 DQ (int32 + BZERO) are read straight from the
    file, not through astropy's slower scaling read."""

    def refuse(hdu, index):
        raise AssertionError(f"{hdu.name} was read through astropy")

    monkeypatch.setattr(fits_reader, "_read_through_astropy", refuse)
    hdus = [fits.PrimaryHDU(), image_hdu(floats(np.float32, (6, 8)), {}, "SCI"), image_hdu(full_range(np.uint32, (6, 8)), {}, "DQ")]
    path = write(tmp_path / "frame.fits", hdus)
    hdulist, predicted = read(path)
    with hdulist:
        assert_as_astropy(path, hdulist, predicted)


@pytest.mark.filterwarnings("ignore:overflow encountered in scalar add:RuntimeWarning")  # astropy, on the damage
def test_undecompressable_hdu_is_named(tmp_path):
    path = write(tmp_path / "rice.fits", [fits.PrimaryHDU(), compressed_hdu("RICE_1", "float32", (64, 64))])
    with fits.open(path) as hdulist:
        start = hdulist.fileinfo(1)["datLoc"]
    damaged = bytearray(path.read_bytes())
    damaged[start + 600 : start + 2000] = bytes(byte ^ 0x5A for byte in damaged[start + 600 : start + 2000])
    path.write_bytes(damaged)
    hdulist = fits_reader.open_headers(path)
    with hdulist, pytest.raises(fits_reader.FitsReadError, match=r"^HDU 1 \(SCI\): cannot read its RICE_1 compressed data: "):
        fits_reader.read_images(hdulist, path)


@pytest.mark.parametrize(("keyword", "value"), [("NAXIS1", 63), ("NAXIS2", 60)])
def test_header_that_undercounts_its_data_is_refused(tmp_path, keyword, value):
    """An image whose NAXISn describe fewer values than it holds, by less than a FITS block: astropy finds
    the next header where it belongs and would read a silently reshaped array; its padding is not zeros."""
    path = write(tmp_path / "edited.fits", [fits.PrimaryHDU(), image_hdu(full_range(np.uint32, (64, 64)), {}, "DQ")])
    raw = path.read_bytes()
    card = raw.index(keyword.encode().ljust(8) + b"=", fits_reader.FITS_BLOCK)
    path.write_bytes(raw[:card] + f"{keyword:8s}= {value:20d}".encode() + raw[card + 30 :])
    hdulist = fits_reader.open_headers(path)
    shape = "63 x 64" if keyword == "NAXIS1" else "64 x 60"
    with hdulist, pytest.raises(fits_reader.FitsReadError, match=rf"^HDU 1 \(DQ\): .* not FITS zero padding: its NAXISn \({shape}\)"):
        fits_reader.read_images(hdulist, path)


DAMAGED_FILES = {
    "gzip-truncated": (lambda raw: gzip.compress(raw)[:-300], "gzip", "Compressed file ended before the end-of-stream"),
    "gzip-crc": (lambda raw: gzip.compress(raw)[:-8] + b"\0\0\0\0" + gzip.compress(raw)[-4:], "gzip", "CRC check failed"),
    "bzip2-truncated": (lambda raw: bz2.compress(raw)[:-300], "bzip2", "Compressed data ended before the end-of-stream"),
    "xz-truncated": (lambda raw: lzma.compress(raw)[:-300], "xz", "Compressed data ended before the end-of-stream"),
    "zip-truncated": (lambda raw: zip_of(raw)[:-300], "zip", "File is not a zip file"),
    "zip-of-two": (lambda raw: zip_of(raw, raw), "zip", "a zip archive of 2 files, not one"),
}


@pytest.mark.parametrize(("damage", "kind", "reason"), DAMAGED_FILES.values(), ids=DAMAGED_FILES)
def test_damaged_compressed_file_is_refused_whole(tmp_path, damage, kind, reason):
    """astropy reads a truncated gzip file as far as it goes and drops the HDUs after the cut: the stream is
    checked to its end first."""
    hdus = [fits.PrimaryHDU()] + [image_hdu(floats(np.float32, (64, 64)), {}, name) for name in ("SCI", "ERR", "DQ")]
    path = write(tmp_path / "frame.fits", hdus)
    path.write_bytes(damage(path.read_bytes()))
    expected = rf"^the file is {kind}-compressed and cannot be decompressed whole: {reason}"
    with pytest.raises(fits_reader.FitsReadError, match=expected):
        fits_reader.open_headers(path)
