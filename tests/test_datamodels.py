"""Data models: schemas, round trips, and the errors a bad file gets."""

import bz2
import gzip
import os
import re

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_array_equal

from frames import SHAPE, make_frame, make_reference
from liger_iris_pipeline import AssignWcsStep, datamodels
from liger_iris_pipeline.datamodels import DataModelError


def test_dq_flags_are_the_jwst_definitions():
    from stdatamodels.jwst.datamodels.dqflags import pixel as jwst_pixel

    ours = datamodels.dqflags.pixel
    assert {name: ours.get(name) for name in jwst_pixel} == dict(jwst_pixel)
    assert set(ours) - set(jwst_pixel) == {"SUBARRAY"}
    assert ours["SUBARRAY"] == jwst_pixel["RESERVED"]


@pytest.mark.parametrize(
    ("model_class", "reftype", "arrays"),
    [
        (datamodels.DarkModel, "DARK", {"data": np.float32, "err": np.float32, "dq": np.uint32}),
        (datamodels.FlatModel, "FLAT", {"data": np.float32, "err": np.float32, "dq": np.uint32}),
        (datamodels.MaskModel, "MASK", {"dq": np.uint32}),
    ],
)
def test_reference_models_round_trip(tmp_path, model_class, reftype, arrays):
    rng = np.random.default_rng(1)
    values = {name: (rng.random(SHAPE) * 1000).astype(dtype) for name, dtype in arrays.items()}
    model = make_reference(model_class, reftype, **values)
    model.save(tmp_path / "ref.fits")
    with datamodels.open(tmp_path / "ref.fits") as read:
        assert type(read) is model_class
        assert read.meta.reftype == reftype == fits.getheader(tmp_path / "ref.fits")["REFTYPE"]
        assert read.meta.instrument.detector == "IMG1"
        for name, value in values.items():
            assert_array_equal(getattr(read, name), value)
            assert getattr(read, name).dtype == value.dtype


def test_imager_model_round_trip_keeps_data_meta_and_gwcs(tmp_path):
    rng = np.random.default_rng(2)
    frame = make_frame(rng.normal(size=(32, 48)), err=rng.random((32, 48)), dq=rng.integers(0, 2**31, (32, 48)))
    frame.meta.target.name = "M 92"
    frame.meta.subarray.name = "FULL"
    calibrated = AssignWcsStep.call(frame, override_distortion="N/A")
    calibrated.save(tmp_path / "frame_cal.fits")
    with datamodels.open(tmp_path / "frame_cal.fits") as read:
        assert type(read) is datamodels.ImagerModel
        for name in ("data", "err", "dq"):
            assert_array_equal(getattr(read, name), getattr(calibrated, name))
        assert read.data.dtype == np.float32 and read.err.dtype == np.float32 and read.dq.dtype == np.uint32
        assert read.meta.target.name == "M 92"
        assert read.meta.cal_step.assign_wcs == "COMPLETE"
        assert read.meta.wcsinfo.ctype1 == "RA---TAN"
        pixels = (np.array([0.0, 10.5, 47.0]), np.array([0.0, 20.25, 31.0]))
        assert np.allclose(read.meta.wcs(*pixels), calibrated.meta.wcs(*pixels), rtol=0, atol=1e-12)
    header = fits.getheader(tmp_path / "frame_cal.fits")
    assert (header["TELESCOP"], header["INSTRUME"], header["DETECTOR"], header["DATAMODL"]) == (
        "TMT",
        "IRIS",
        "IMG1",
        "ImagerModel",
    )


def test_missing_keyword_is_named(tmp_path):
    path = tmp_path / "frame.fits"
    make_frame(np.zeros(SHAPE)).save(path)
    with fits.open(path, mode="update") as hdulist:
        del hdulist["ASDF"]  # as the instrument writes it: the header is the only copy of the metadata
        del hdulist[0].header["EXPTIME"]
    with pytest.raises(DataModelError, match=r"^.*frame.fits: missing required keyword\(s\) EXPTIME$"):
        datamodels.open(path)


def test_not_fits_is_named(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("these are not pixels\n")
    with pytest.raises(DataModelError, match="notes.fits: not a readable FITS file"):
        datamodels.open(path)


@pytest.mark.filterwarnings("ignore:File may have been truncated")  # astropy repeats it while closing
def test_truncated_fits_is_named(tmp_path):
    path = tmp_path / "cut.fits"
    make_frame(np.zeros((64, 64))).save(path)
    path.write_bytes(path.read_bytes()[:8000])
    with pytest.raises(DataModelError, match="cut.fits: not a readable FITS file"):
        datamodels.open(path)


def test_fits_without_sci_is_named(tmp_path):
    path = tmp_path / "empty.fits"
    header = fits.Header({"INSTRUME": "IRIS", "DETECTOR": "IMG1", "DATAMODL": "ImagerModel"})
    fits.HDUList([fits.PrimaryHDU(header=header)]).writeto(path)
    with pytest.raises(DataModelError, match="empty.fits: no SCI extension"):
        datamodels.open(path)


def test_window_size_must_match_the_array(tmp_path):
    frame = make_frame(np.zeros(SHAPE))
    frame.meta.subarray.xsize, frame.meta.subarray.ysize = 4, 4
    frame.save(tmp_path / "window.fits")
    with pytest.raises(DataModelError, match=r"window.fits: array shape \(6, 8\) differs from SUBSIZE2 x SUBSIZE1"):
        datamodels.open(tmp_path / "window.fits")


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    frame = make_frame(np.zeros(SHAPE))

    def fail_midway(self, path, *args, **kwargs):
        with open(path, "wb") as partial:
            partial.write(b"SIMPLE  =                    T")
        raise OSError("disk full")

    monkeypatch.setattr(datamodels.ImagerModel, "to_fits", fail_midway)
    with pytest.raises(DataModelError, match="frame_cal.fits: cannot write \\(disk full\\)"):
        frame.save(tmp_path / "frame_cal.fits")
    assert list(tmp_path.iterdir()) == []


def test_saved_file_gets_the_usual_permissions(tmp_path):
    path = tmp_path / "frame.fits"
    make_frame(np.zeros(SHAPE)).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_to_read_only_directory_is_named(read_only_dir):
    frame = make_frame(np.zeros(SHAPE))
    with pytest.raises(DataModelError, match="ro/frame.fits: cannot write"):
        frame.save(read_only_dir / "frame.fits")
    assert list(read_only_dir.iterdir()) == []


def test_arrays_read_in_native_order_with_every_uint32_dq_bit(tmp_path):
    """DQ is stored as int32 + BZERO: flags with the top bit set must come back exactly, as astropy reads them."""
    dq = np.array([[0, 1, 2**31, 2**32 - 1], [2**31 + 5, 7, 2**30, 2**31 - 1]], dtype=np.uint32)
    make_frame(np.arange(8, dtype=np.float32).reshape(2, 4), dq=dq).save(tmp_path / "frame.fits")
    with datamodels.open(tmp_path / "frame.fits") as read, fits.open(tmp_path / "frame.fits") as hdulist:
        for name, extension in (("data", "SCI"), ("err", "ERR"), ("dq", "DQ")):
            array = getattr(read, name)
            assert array.dtype.isnative and array.flags.writeable
            assert_array_equal(array, hdulist[extension].data)
        assert_array_equal(read.dq, dq)


def test_scaled_fits_arrays_are_read_scaled(tmp_path):
    """A file with BSCALE (not written by us, but valid FITS) is read with astropy's scaling."""
    path = tmp_path / "scaled.fits"
    make_frame(np.zeros((2, 4), dtype=np.float32)).save(path)
    with fits.open(path, mode="update") as hdulist:
        stored = np.arange(8, dtype=np.int16).reshape(2, 4)
        hdulist["SCI"] = fits.ImageHDU(stored, header=hdulist["SCI"].header, name="SCI")
        hdulist["SCI"].header.update(BSCALE=0.5, BZERO=10.0)
    with datamodels.open(path) as read:
        assert read.data.dtype.isnative
        assert_array_equal(read.data, stored * 0.5 + 10.0)


def test_reading_only_some_arrays(tmp_path):
    """``arrays=`` reads those arrays; the others are read-only zero placeholders that hold no memory."""
    dq = np.full(SHAPE, 5, dtype=np.uint32)
    flat = make_reference(datamodels.FlatModel, "flat", data=np.full(SHAPE, 2.0, np.float32), dq=dq)
    flat.save(tmp_path / "flat.fits")
    with datamodels.open(tmp_path / "flat.fits", datamodels.FlatModel, arrays=("data",)) as read:
        assert_array_equal(read.data, 2.0)
        assert read.dq.shape == SHAPE and read.dq.strides == (0, 0) and not read.dq.any()
        with pytest.raises(ValueError, match="read-only"):
            read.dq[0, 0] = 1
    with datamodels.open(tmp_path / "flat.fits", datamodels.FlatModel, arrays=("data", "dq")) as read:
        assert_array_equal(read.dq, dq)
    with pytest.raises(ValueError, match="FlatModel has no array coeffs"):
        datamodels.open(tmp_path / "flat.fits", datamodels.FlatModel, arrays=("coeffs",))


def test_variance_components_round_trip_and_a_frame_without_them_counts_err_as_read_noise(tmp_path):
    """VAR_POISSON, VAR_RNOISE and VAR_FLAT are written and read back; a file without them (another readout
    processor's raw frame) gets VAR_RNOISE = ERR**2 and zero VAR_POISSON and VAR_FLAT, so ERR**2 is their sum."""
    variances = {name: np.full(SHAPE, value, np.float32) for name, value in zip(datamodels.VARIANCE_ARRAYS, (4.0, 2.0, 3.0))}
    frame = make_frame(np.ones(SHAPE))
    for name, values in variances.items():
        setattr(frame, name, values)
    frame.save(tmp_path / "split.fits")
    with datamodels.open(tmp_path / "split.fits") as read:
        for name, values in variances.items():
            assert_array_equal(getattr(read, name), values)

    with fits.open(tmp_path / "split.fits") as hdulist:
        unsplit = fits.HDUList([hdulist["PRIMARY"].copy(), hdulist["SCI"].copy(), hdulist["DQ"].copy()])
        unsplit.append(fits.ImageHDU(np.full(SHAPE, 3.0, np.float32), name="ERR"))
        unsplit.writeto(tmp_path / "unsplit.fits")
    with datamodels.open(tmp_path / "unsplit.fits") as read:
        assert_array_equal(read.var_rnoise, 9.0)
        assert_array_equal(read.var_poisson, 0.0)
        assert_array_equal(read.var_flat, 0.0)


# Input integrity: every FITS input holds the HDUs of its model, each once and of its kind; compressed HDUs
# and compressed files give astropy's values; values the model's types cannot hold are refused.

RNG = np.random.default_rng(17)


def frame_path(tmp_path, name="frame.fits"):
    """A frame with random SCI, ERR (as VAR_RNOISE) and DQ (every uint32 bit used): PRIMARY, SCI, ERR, VAR_POISSON,
    VAR_RNOISE, VAR_FLAT, DQ, ASDF."""
    dq = RNG.integers(0, 2**32, SHAPE, dtype=np.uint32)
    make_frame(RNG.normal(100.0, 5.0, SHAPE), err=RNG.random(SHAPE), dq=dq).save(tmp_path / name)
    return tmp_path / name


def replace(name, make):
    """A change of the HDU list replacing extension ``name`` by ``make(old HDU)``."""

    def change(hdulist):
        hdulist[hdulist.index_of(name)] = make(hdulist[name])

    return change


def image(data, name, **keywords):
    hdu = fits.ImageHDU(data, name=name, do_not_scale_image_data=bool(keywords))
    hdu.header.update(keywords)
    return hdu


def table(name):
    return fits.BinTableHDU.from_columns([fits.Column(name="X", format="J", array=np.arange(3))], name=name)


def append(*make):
    def change(hdulist):
        for new in make:
            hdulist.append(new(hdulist))

    return change


def compress(names, compression="RICE_1"):
    """Replace the extensions ``names`` by compressed image HDUs of the same values."""

    def change(hdulist):
        for name in names:
            old = hdulist[name]
            hdulist[hdulist.index_of(name)] = fits.CompImageHDU(
                old.data, header=old.header, name=name, compression_type=compression
            )

    return change


def rewrite(path, change):
    """Write ``path`` anew with ``change(hdulist)`` applied (astropy's update mode keeps no HDU it cannot
    write back in place)."""
    with fits.open(path) as hdulist:
        hdulist = fits.HDUList([hdu.copy() for hdu in hdulist])
    change(hdulist)
    hdulist.writeto(path, overwrite=True)
    return path


def gzip_whole(path):
    path.write_bytes(gzip.compress(path.read_bytes()))


def undercount_naxis1(path):
    """SCI's NAXIS1 one less than its row length: the same number of FITS blocks, the rows shifted."""
    raw = path.read_bytes()
    card = raw.index(b"NAXIS1  =", 2880)
    path.write_bytes(raw[:card] + f"NAXIS1  = {SHAPE[1] - 1:20d}".encode() + raw[card + 30 :])


def primary_array(hdulist):
    hdulist[0].data = hdulist["SCI"].data


def with_value(dtype, value):
    """The image HDU ``make(old)``: the old HDU's values as ``dtype``, pixel (2, 3) set to ``value``."""

    def make(old):
        data = old.data.astype(dtype)
        data[2, 3] = value
        return image(data, old.name)

    return make


def corrupt_compressed_sci(path):
    rewrite(path, compress(["SCI"]))
    with fits.open(path) as hdulist:
        start = hdulist.fileinfo(1)["datLoc"]
    damaged = bytearray(path.read_bytes())
    damaged[start : start + 200] = bytes(255 - byte for byte in damaged[start : start + 200])
    path.write_bytes(damaged)


HOSTILE = {
    "second-sci": (append(lambda h: image(h["SCI"].data, "SCI")), "HDUs 1 and 8 are both named SCI"),
    "second-dq-extver-2": (
        append(lambda h: fits.ImageHDU(h["DQ"].data, name="DQ", ver=2)),
        "HDUs 6 and 8 are both named DQ",
    ),
    "second-sci-lower-case": (append(lambda h: image(h["SCI"].data, "sci")), "HDUs 1 and 8 are both named SCI"),
    "second-asdf": (append(lambda h: table("ASDF")), "HDUs 7 and 8 are both named ASDF"),
    "unknown-name-twice": (append(lambda h: table("NOTES"), lambda h: table("NOTES")), "HDUs 8 and 9 are both named NOTES"),
    "two-unnamed": (
        append(lambda h: fits.ImageHDU(np.zeros(3)), lambda h: fits.ImageHDU(np.ones(3))),
        "HDUs 8 and 9 both have no EXTNAME",
    ),
    "err-table": (replace("ERR", lambda old: table("ERR")), "ERR is a BinTableHDU, not an image"),
    "asdf-image": (replace("ASDF", lambda old: image(np.zeros(8, np.uint8), "ASDF")), "ASDF is an ImageHDU, not a binary table"),
    "primary-data": (
        primary_array,
        "the primary HDU holds data, but an ImagerModel keeps its arrays in extensions (SCI, ERR, VAR_POISSON, VAR_RNOISE, VAR_FLAT, DQ, SUBARR_MAP)",
    ),
    "empty-err": (replace("ERR", lambda old: fits.ImageHDU(name="ERR", header=old.header)), "ERR holds no data"),
    "dq-int16-negative": (
        replace("DQ", lambda old: image(np.where(np.arange(48).reshape(SHAPE) == 5, -1, 7).astype(np.int16), "DQ")),
        "DQ holds values from -1 to 7, outside the uint32 range",
    ),
    "dq-int16-scaled": (
        replace("DQ", lambda old: image(np.ones(SHAPE, np.int16), "DQ", BSCALE=0.5)),
        "DQ holds floating-point values (BITPIX 16 scaled by BSCALE/BZERO/BLANK), expected uint32",
    ),
    "sci-float64-beyond-float32": (
        replace("SCI", with_value(np.float64, 1e39)),
        "SCI holds 1 finite value(s) beyond the float32 range",
    ),
}


@pytest.mark.parametrize(("damage", "problem"), HOSTILE.values(), ids=HOSTILE)
def test_file_not_holding_its_models_hdus_once_is_refused(tmp_path, damage, problem):
    path = rewrite(frame_path(tmp_path), damage)
    with pytest.raises(DataModelError, match=f"^frame.fits: {re.escape(problem)}$"):
        datamodels.open(path)


def test_reference_not_holding_its_models_hdus_is_refused(tmp_path):
    """References go through the same checks (here a mask, whose only array is DQ)."""
    path = tmp_path / "mask.fits"
    make_reference(datamodels.MaskModel, "MASK", dq=np.zeros(SHAPE, np.uint32)).save(path)
    rewrite(path, append(lambda h: image(h["DQ"].data, "DQ")))
    with pytest.raises(DataModelError, match=r"^mask.fits: HDUs 1 and 3 are both named DQ$"):
        datamodels.open(path)


UNREADABLE = {
    "sci-compressed-corrupt": (corrupt_compressed_sci, r"HDU 1 \(SCI\): cannot read its RICE_1 compressed data: "),
    "sci-naxis1-undercounted": (undercount_naxis1, r"HDU 1 \(SCI\): the \d+ bytes after its data are not FITS zero padding"),
    "gzip-truncated": (
        lambda path: (gzip_whole(path), path.write_bytes(path.read_bytes()[:-500])),
        r"the file is gzip-compressed and cannot be decompressed whole: Compressed file ended",
    ),
    "gzip-of-text": (lambda path: (path.write_text("not pixels\n"), gzip_whole(path)), r"No SIMPLE card found"),
}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # astropy, on the damaged tiles
@pytest.mark.parametrize(("damage", "problem"), UNREADABLE.values(), ids=UNREADABLE)
def test_unreadable_data_is_refused_naming_the_hdu(tmp_path, damage, problem):
    path = frame_path(tmp_path)
    damage(path)
    with pytest.raises(DataModelError, match=rf"^.*frame.fits: not a readable FITS file \({problem}"):
        datamodels.open(path)


def dq_as(dtype):
    return replace("DQ", lambda old: image(RNG.integers(0, np.iinfo(dtype).max, SHAPE, endpoint=True).astype(dtype), "DQ"))


ACCEPTED = {
    "sci-rice": compress(["SCI"]),
    "all-rice": compress(["SCI", "ERR", "DQ"]),
    "all-gzip2": compress(["SCI", "ERR", "DQ"], "GZIP_2"),
    "sci-hcompress": compress(["SCI"], "HCOMPRESS_1"),
    "dq-uint8": dq_as(np.uint8),
    "dq-uint16": dq_as(np.uint16),
    "dq-int16-non-negative": dq_as(np.int16),
    "dq-int32-non-negative": dq_as(np.int32),
    "sci-float64": replace("SCI", with_value(np.float64, 1e-300)),
    "sci-int16-bscale-blank": replace(
        "SCI", lambda old: image(np.arange(48, dtype=np.int16).reshape(SHAPE), "SCI", BSCALE=0.5, BZERO=-3.0, BLANK=7)
    ),
}


@pytest.mark.parametrize("change", ACCEPTED.values(), ids=ACCEPTED)
def test_accepted_kinds_of_hdu_give_astropys_values(tmp_path, change):
    """A compressed image HDU, a narrower DQ, a float64 or scaled SCI: the model holds astropy's values of the
    file, in the schema's type (cast exactly: every value fits)."""
    path = rewrite(frame_path(tmp_path), change)
    with datamodels.open(path) as read, fits.open(path) as hdulist:
        for name, extension, dtype in (("data", "SCI", np.float32), ("err", "ERR", np.float32), ("dq", "DQ", np.uint32)):
            array = getattr(read, name)
            assert array.dtype == dtype and array.dtype.isnative
            assert_array_equal(array, hdulist[extension].data.astype(dtype))


@pytest.mark.parametrize("name", ["frame.fits.gz", "frame.fits", "frame.fits.bz2"])
def test_compressed_file_gives_the_frame(tmp_path, name):
    """A frame compressed whole (gzip as .fits.gz or under a .fits name, bzip2) reads as the frame."""
    original = frame_path(tmp_path, "original.fits")
    compressor = bz2.compress if name.endswith("bz2") else gzip.compress
    (tmp_path / name).write_bytes(compressor(original.read_bytes()))
    with datamodels.open(tmp_path / name) as read, datamodels.open(original) as expected:
        for array in ("data", "err", "dq"):
            assert_array_equal(getattr(read, array), getattr(expected, array))
        assert read.meta.filename == name


def test_unknown_extensions_are_kept(tmp_path):
    """An extension the model does not know is carried into products, as jwst carries it."""
    notes = np.arange(5, dtype=np.int16)
    path = rewrite(frame_path(tmp_path), append(lambda h: image(notes, "NOTES")))
    with datamodels.open(path) as read:
        read.save(tmp_path / "copy.fits")
    with fits.open(tmp_path / "copy.fits") as hdulist:
        assert_array_equal(hdulist["NOTES"].data, notes)
