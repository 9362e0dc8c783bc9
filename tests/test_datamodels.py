"""Data models: schemas, round trips, and the errors a bad file gets."""

import os

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
    calibrated = AssignWcsStep.call(frame)
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


def test_arrays_read_in_parts_come_back_exactly(tmp_path, monkeypatch):
    """Arrays are read in parts on two threads: parts that end anywhere within an array (here every 12 bytes)
    still give every value, the DQ's top bit included."""
    monkeypatch.setattr(datamodels.models, "_READ_PART", 12)
    rng = np.random.default_rng(3)
    sci = rng.normal(size=(7, 13)).astype(np.float32)
    dq = rng.integers(0, 2**32, size=(7, 13), dtype=np.uint32)
    make_frame(sci, dq=dq).save(tmp_path / "frame.fits")
    with datamodels.open(tmp_path / "frame.fits") as read:
        assert_array_equal(read.data, sci)
        assert_array_equal(read.dq, dq)


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
