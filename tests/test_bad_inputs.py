"""Bad raw frames through ``tmtrun``: one line naming the file and the problem, exit status 1, the input
unchanged and no output left."""

import gzip
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from commands import assert_one_line_error, command
from frames import file_digest, make_frame

RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


def truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


def edit(change):
    """A damage done to the file's HDUs in place."""

    def damage(path):
        with fits.open(path, mode="update") as hdulist:
            change(hdulist)

    return damage


def remove_sci(hdulist):
    del hdulist["ASDF"]  # as an instrument writes it: no ASDF copy of the metadata
    del hdulist["SCI"]


def nan_only(hdulist):
    hdulist["SCI"].data[:] = np.nan


def integer_sci(hdulist):
    hdulist["SCI"].data = hdulist["SCI"].data.astype(np.int16)


def float_dq(hdulist):
    hdulist["DQ"].data = hdulist["DQ"].data.astype(np.float32)


def complex_sci_table(hdulist):
    """SCI as complex values, which FITS can hold only in a binary table."""
    values = hdulist["SCI"].data.astype(np.complex64).ravel()
    hdulist[hdulist.index_of("SCI")] = fits.BinTableHDU.from_columns(
        [fits.Column(name="SCI", format="C", array=values)], name="SCI"
    )


def second_sci(hdulist):
    """A second SCI right after the first (whatever other HDUs the frame holds)."""
    hdulist.insert(2, fits.ImageHDU(hdulist["SCI"].data, name="SCI"))


def damaged_rice_sci(path):
    """SCI Rice-compressed (as fpack writes it), its compressed bytes then damaged."""
    with fits.open(path) as hdulist:
        hdus = [hdu.copy() for hdu in hdulist]
    hdus[1] = fits.CompImageHDU(hdus[1].data, header=hdus[1].header, name="SCI", compression_type="RICE_1")
    fits.HDUList(hdus).writeto(path, overwrite=True)
    with fits.open(path) as hdulist:
        start = hdulist.fileinfo(1)["datLoc"]
    damaged = bytearray(path.read_bytes())
    damaged[start : start + 100] = bytes(255 - byte for byte in damaged[start : start + 100])
    path.write_bytes(damaged)


def truncated_gzip(path):
    """The frame gzipped whole under its .fits name and cut short (astropy alone drops the HDUs after the cut)."""
    path.write_bytes(gzip.compress(path.read_bytes())[:-400])


def liger_header(hdulist):
    hdulist[0].header["INSTRUME"] = "LIGER"


def liger_frame_of_iris_width(path):
    make_frame(np.zeros((6, 2100)), instrument="LIGER").save(path)


BAD_FRAMES = {
    "truncated": (truncate, "not a readable FITS file (truncated"),
    "no-sci": (edit(remove_sci), "no SCI extension"),
    "nan-only": (edit(nan_only), "SCI has no finite value (all NaN or infinite)"),
    "integer-sci": (edit(integer_sci), "SCI holds integer values (BITPIX 16), expected float32"),
    "float-dq": (edit(float_dq), "DQ holds floating-point values (BITPIX -32), expected uint32"),
    "complex-sci": (edit(complex_sci_table), "SCI is a BinTableHDU, not an image"),
    "second-sci": (edit(second_sci), "HDUs 1 and 2 are both named SCI"),
    "damaged-rice-sci": (damaged_rice_sci, "not a readable FITS file (HDU 1 (SCI): cannot read its RICE_1 compressed data"),
    "truncated-gzip": (truncated_gzip, "not a readable FITS file (the file is gzip-compressed and cannot be decompressed whole"),
    "other-instrument": (edit(liger_header), "DETECTOR IMG1 is not a LIGER imager detector (IMG)"),
    "other-instrument-size": (
        liger_frame_of_iris_width,
        "array shape (6, 2100) is larger than the LIGER detector (2048 x 2048)",
    ),
}


@pytest.mark.parametrize("damage, problem", BAD_FRAMES.values(), ids=BAD_FRAMES)
def test_a_bad_frame_is_refused_in_one_line_and_left_unchanged(calibration_files, tmp_path, damage, problem):
    raw = calibration_files["raw"]
    damage(raw)
    digest = file_digest(raw)
    out = tmp_path / "out"
    references = [
        f"--steps.dq_init.override_mask={calibration_files['mask']}",
        f"--steps.dark_current.override_dark={calibration_files['dark']}",
        f"--steps.flat_field.override_flat={calibration_files['flat']}",
        "--steps.assign_wcs.override_distortion=N/A",
    ]
    result = subprocess.run(
        [command("tmtrun"), "process_imager_l2", str(raw), "--output-dir", str(out), *references],
        capture_output=True,
        text=True,
    )
    assert_one_line_error(result, "tmtrun", RAW_NAME, problem)
    assert file_digest(raw) == digest
    assert not out.exists() or not any(out.iterdir())
