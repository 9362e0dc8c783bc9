"""Each step and the pipeline on hand-built frames: values, status keywords, references, naming and safety."""

import gzip

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose, assert_array_equal

from liger_iris_pipeline import (
    AssignWcsStep,
    BackgroundStep,
    CombineFlatsStep,
    DarkCurrentStep,
    DQInitStep,
    FlatFieldStep,
    MasterDarkStep,
    NormalizeStep,
    ProcessFlatfieldL2Pipeline,
    ProcessImagerL2Pipeline,
    SubtractImagesStep,
    __version__,
    datamodels,
)
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.code_version import code_version
from liger_iris_pipeline.config import default_config

from frames import SHAPE, describe, file_digest, make_frame, make_reference

FLAGS = datamodels.dqflags.pixel


def expected_calibrated():
    """SCI, ERR, DQ of the ``calibration_files`` frame after mask, dark and flat, computed by hand."""
    sci = np.full(SHAPE, (10.0 - 2.0) / 0.5)
    err = np.full(SHAPE, np.sqrt((np.hypot(1.0, 0.5) / 0.5) ** 2 + (16.0 * 0.01 / 0.5) ** 2))
    dq = np.zeros(SHAPE, np.uint32)
    dq[1, 2] = FLAGS["DEAD"] | FLAGS["DO_NOT_USE"]
    dq[3, 4] = FLAGS["HOT"]
    dq[2, 2] = FLAGS["UNRELIABLE_FLAT"]
    # NaN dark: nothing subtracted, no dark error, then flat-fielded as usual.
    sci[0, 7] = 10.0 / 0.5
    err[0, 7] = np.sqrt((1.0 / 0.5) ** 2 + (20.0 * 0.01 / 0.5) ** 2)
    dq[0, 7] = FLAGS["UNRELIABLE_DARK"] | FLAGS["DO_NOT_USE"]
    # Zero and NaN flat: dark-subtracted values left as they are.
    for pixel in ((5, 0), (5, 1)):
        sci[pixel] = 8.0
        err[pixel] = np.hypot(1.0, 0.5)
        dq[pixel] = FLAGS["NO_FLAT_FIELD"] | FLAGS["DO_NOT_USE"]
    return sci, err, dq


def test_dq_init_step_ors_mask_and_records_it(calibration_files):
    result = DQInitStep.call(calibration_files["raw"], override_mask=str(calibration_files["mask"]))
    expected = np.zeros(SHAPE, np.uint32)
    expected[1, 2] = FLAGS["DEAD"] | FLAGS["DO_NOT_USE"]
    assert_array_equal(result.dq, expected)
    assert_array_equal(result.data, 10.0)
    assert result.meta.cal_step.dq_init == "COMPLETE"
    assert result.meta.ref_file.mask.name == "mask.fits"
    # The package version and a digest of the code the step ran, as the workflow's rules compute it.
    assert result.meta.calibration_software_version == code_version("liger_iris_pipeline.dq_init.dq_init_step")
    assert result.meta.calibration_software_version.startswith(f"{__version__}+")


def test_dark_current_step_subtracts_rate(calibration_files):
    result = DarkCurrentStep.call(calibration_files["raw"], override_dark=str(calibration_files["dark"]))
    expected_sci = np.full(SHAPE, 8.0)
    expected_sci[0, 7] = 10.0
    assert_allclose(result.data, expected_sci)
    assert_allclose(result.err[3, 3], np.hypot(1.0, 0.5))
    assert result.dq[3, 4] == FLAGS["HOT"]
    assert result.dq[0, 7] == FLAGS["UNRELIABLE_DARK"] | FLAGS["DO_NOT_USE"]
    assert result.meta.cal_step.dark_current == "COMPLETE"
    assert result.meta.ref_file.dark.name == "dark.fits"


def test_dark_in_counts_is_divided_by_its_exposure_time(tmp_path):
    raw = make_frame(np.full(SHAPE, 10.0), err=np.zeros(SHAPE))
    dark = make_reference(
        datamodels.DarkModel, "DARK", data=np.full(SHAPE, 60.0, np.float32), err=np.full(SHAPE, 3.0, np.float32)
    )
    dark.meta.bunit_data = dark.meta.bunit_err = "DN"
    dark.meta.exposure.exposure_time = 30.0
    dark.save(tmp_path / "dark_counts.fits")
    result = DarkCurrentStep.call(raw, override_dark=str(tmp_path / "dark_counts.fits"))
    assert_allclose(result.data, 8.0)
    assert_allclose(result.err, 0.1)


def test_flat_field_step_divides_and_flags(calibration_files):
    result = FlatFieldStep.call(calibration_files["raw"], override_flat=str(calibration_files["flat"]))
    expected_sci = np.full(SHAPE, 20.0)
    expected_sci[5, :2] = 10.0
    assert_allclose(result.data, expected_sci)
    assert_allclose(result.err[0, 0], np.sqrt((1 / 0.5) ** 2 + (20 * 0.01 / 0.5) ** 2), rtol=1e-6)
    assert result.dq[5, 0] == FLAGS["NO_FLAT_FIELD"] | FLAGS["DO_NOT_USE"]
    assert result.meta.cal_step.flat_field == "COMPLETE"


def test_pipeline_chains_steps_and_writes_cal_product(calibration_files, tmp_path):
    raw_digest = file_digest(calibration_files["raw"])
    output_dir = tmp_path / "out"
    ProcessImagerL2Pipeline.call(
        calibration_files["raw"],
        output_dir=str(output_dir),
        save_results=True,
        steps={
            "dq_init": {"override_mask": str(calibration_files["mask"])},
            "dark_current": {"override_dark": str(calibration_files["dark"])},
            "flat_field": {"override_flat": str(calibration_files["flat"])},
            "assign_wcs": {"override_distortion": "N/A"},
        },
    )
    assert file_digest(calibration_files["raw"]) == raw_digest
    assert sorted(path.name for path in output_dir.iterdir()) == ["2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits"]
    with datamodels.open(output_dir / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits") as cal:
        sci, err, dq = expected_calibrated()
        assert_allclose(cal.data, sci, rtol=1e-6)
        assert_allclose(cal.err, err, rtol=1e-6)
        assert_array_equal(cal.dq, dq)
        chain = [step for step in ProcessImagerL2Pipeline.step_defs if step != "background"]  # no sky frames given
        assert {step: getattr(cal.meta.cal_step, step) for step in chain} == dict.fromkeys(chain, "COMPLETE")
        assert cal.meta.cal_step.background is None
        assert (cal.meta.ref_file.mask.name, cal.meta.ref_file.dark.name, cal.meta.ref_file.flat.name) == (
            "mask.fits",
            "dark.fits",
            "flat.fits",
        )
        assert cal.meta.filename == "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits"
        assert cal.meta.wcs is not None
        # FITS HISTORY cards split long entries; joined, they give each step's status and parameters.
        history = "".join(entry["description"] for entry in cal._asdf.tree["history"]["entries"])
        assert f'flat_field COMPLETE: FlatFieldStep parameters {{"allow_reference_mismatch": false, "output_dir": null, "output_file": null, "override_flat": "{calibration_files["flat"]}"' in history


def as_archives_deliver(path, compressed):
    """Write the file ``path`` to ``compressed`` with every image extension Rice-compressed (fpack)."""
    with fits.open(path) as hdulist:
        hdus = [
            fits.CompImageHDU(hdu.data, header=hdu.header, name=hdu.name, compression_type="RICE_1")
            if type(hdu) is fits.ImageHDU
            else hdu.copy()
            for hdu in hdulist
        ]
        fits.HDUList(hdus).writeto(compressed)
        for hdu in hdulist[1:]:
            if hdu.is_image:  # the fixture's values survive Rice's quantisation: the expected product holds
                assert_array_equal(fits.getdata(compressed, hdu.name), hdu.data)


def test_pipeline_calibrates_compressed_frames_with_compressed_references(calibration_files, tmp_path):
    """A raw frame and references as archives deliver them (Rice-compressed image HDUs; the raw frame gzipped
    whole besides) give the product of the uncompressed files, not one of their compressed bytes."""
    archive = tmp_path / "archive"
    archive.mkdir()
    compressed = {name: archive / path.name for name, path in calibration_files.items()}
    for name, path in calibration_files.items():
        as_archives_deliver(path, compressed[name])
    compressed["raw"].write_bytes(gzip.compress(compressed["raw"].read_bytes()))
    result = ProcessImagerL2Pipeline.call(
        compressed["raw"],
        steps={
            "dq_init": {"override_mask": str(compressed["mask"])},
            "dark_current": {"override_dark": str(compressed["dark"])},
            "flat_field": {"override_flat": str(compressed["flat"])},
            "assign_wcs": {"override_distortion": "N/A"},
        },
    )
    sci, err, dq = expected_calibrated()
    assert_allclose(result.data, sci, rtol=1e-6)
    assert_allclose(result.err, err, rtol=1e-6)
    assert_array_equal(result.dq, dq)


def test_step_output_replaces_the_suffix(calibration_files, tmp_path):
    dq_path = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_dqinit.fits"
    DQInitStep.call(calibration_files["raw"], override_mask=str(calibration_files["mask"]), output_dir=str(tmp_path), save_results=True)
    assert dq_path.exists()
    DarkCurrentStep.call(dq_path, override_dark=str(calibration_files["dark"]), output_dir=str(tmp_path), save_results=True)
    assert (tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_dark.fits").exists()


def test_pipeline_cfg_skips_a_step(calibration_files, tmp_path):
    cfg = tmp_path / "no_flat.cfg"
    cfg.write_text(
        'class = "liger_iris_pipeline.ProcessImagerL2Pipeline"\n'
        "[steps]\n  [[flat_field]]\n    skip = True\n"
        f'  [[dq_init]]\n    override_mask = "{calibration_files["mask"]}"\n'
        f'  [[dark_current]]\n    override_dark = "{calibration_files["dark"]}"\n'
        '  [[assign_wcs]]\n    override_distortion = "N/A"\n'
    )
    result = ProcessImagerL2Pipeline.call(calibration_files["raw"], config_file=str(cfg))
    assert result.meta.cal_step.flat_field == "SKIPPED"
    assert result.meta.cal_step.dark_current == "COMPLETE"
    assert_allclose(result.data[0, 0], 8.0)  # dark subtracted, not flat-fielded
    assert result.meta.ref_file.flat.name is None


def test_not_applicable_reference_skips_step(calibration_files):
    result = FlatFieldStep.call(calibration_files["raw"], override_flat="N/A")
    assert result.meta.cal_step.flat_field == "SKIPPED"
    assert result.meta.ref_file.flat.name == "N/A"
    assert_array_equal(result.data, 10.0)


def test_shipped_configs_build_the_steps():
    pipeline = ProcessImagerL2Pipeline.from_config_file(default_config("process_imager_l2"))
    assert list(ProcessImagerL2Pipeline.step_defs) == ["background", "dq_init", "dark_current", "flat_field", "assign_wcs"]
    assert pipeline.suffix == "cal" and not pipeline.flat_field.skip
    for alias, step_class, suffix in (
        ("dq_init", DQInitStep, "dqinit"),
        ("dark_current", DarkCurrentStep, "dark"),
        ("flat_field", FlatFieldStep, "flat"),
        ("assign_wcs", AssignWcsStep, "cal"),
        ("master_dark", MasterDarkStep, "masterdark"),
        ("normalize", NormalizeStep, "norm"),
        ("combine_flats", CombineFlatsStep, "masterflat"),
        ("process_flatfield_l2", ProcessFlatfieldL2Pipeline, "masterflat"),
        ("subtract_images", SubtractImagesStep, "sub"),
        ("background", BackgroundStep, "bkgsub"),
    ):
        step = step_class.from_config_file(default_config(alias))
        assert isinstance(step, step_class) and step.suffix == suffix


def test_caller_model_is_not_modified(calibration_files):
    raw = datamodels.open(calibration_files["raw"])
    result = DarkCurrentStep.call(raw, override_dark=str(calibration_files["dark"]))
    assert result is not raw
    assert_array_equal(raw.data, 10.0)
    assert raw.meta.cal_step.dark_current is None


def test_subarray_frame_uses_reference_window(calibration_files):
    flat = datamodels.open(calibration_files["flat"])
    window = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    frame = make_frame(window, err=np.zeros((3, 4)))
    frame.meta.subarray.name = "SUB"
    frame.meta.subarray.xstart, frame.meta.subarray.ystart = 1, 4  # rows 3..5, columns 0..3 (0-based)
    frame.meta.subarray.xsize, frame.meta.subarray.ysize = 4, 3
    result = FlatFieldStep.call(frame, override_flat=str(calibration_files["flat"]))
    expected = window / 0.5
    expected[2, :2] = window[2, :2]  # the zero and NaN flat pixels at detector (5, 0), (5, 1)
    assert_allclose(result.data, expected)
    assert result.dq[2, 0] == FLAGS["NO_FLAT_FIELD"] | FLAGS["DO_NOT_USE"]
    flat.close()


def test_reference_of_wrong_shape_is_an_error_naming_it(tmp_path, calibration_files):
    small = make_reference(datamodels.FlatModel, "FLAT", data=np.ones((3, 3), np.float32))
    small.save(tmp_path / "small_flat.fits")
    with pytest.raises(StepInputError, match=r"small_flat.fits: reference shape \(3, 3\) does not match"):
        FlatFieldStep.call(calibration_files["raw"], override_flat=str(tmp_path / "small_flat.fits"))


def test_reference_for_the_other_instrument_is_an_error(tmp_path, calibration_files):
    liger = make_reference(datamodels.FlatModel, "FLAT", instrument="LIGER", data=np.ones(SHAPE, np.float32))
    liger.save(tmp_path / "liger_flat.fits")
    with pytest.raises(StepInputError, match=r"liger_flat.fits: flat reference does not fit .*INSTRUME 'LIGER' \(frame 'IRIS'\)"):
        FlatFieldStep.call(calibration_files["raw"], override_flat=str(tmp_path / "liger_flat.fits"))


def test_missing_reference_without_crds_names_the_override(calibration_files):
    with pytest.raises(StepInputError, match="LVL1_0001.fits: no dark reference .*override_dark"):
        DarkCurrentStep.call(calibration_files["raw"])


def test_wcs_step_needs_pointing(tmp_path):
    frame = make_frame(np.zeros(SHAPE))
    frame.meta.pointing.pa = None
    frame.save(tmp_path / "no_pa.fits")
    with pytest.raises(datamodels.DataModelError, match="no_pa.fits: missing required keyword.*PA_DET"):
        AssignWcsStep.call(tmp_path / "no_pa.fits", override_distortion="N/A")


def test_describe_helper_matches_schema():
    """The test fixtures themselves must be valid frames (guards every test above)."""
    model = describe(datamodels.ImagerModel(SHAPE))
    datamodels.require_meta(model, model.required_meta)


def test_window_outside_the_reference_is_an_error_naming_both(calibration_files):
    frame = make_frame(np.ones((3, 4)), err=np.zeros((3, 4)))
    frame.meta.filename = "window.fits"
    frame.meta.subarray.name = "SUB"
    frame.meta.subarray.xstart, frame.meta.subarray.ystart = 6, 4  # columns 6..9 of an 8-column reference
    frame.meta.subarray.xsize, frame.meta.subarray.ysize = 4, 3
    with pytest.raises(StepInputError, match=r"flat.fits: window x 6..9, y 4..6 of window.fits falls outside the reference's 8 x 6 pixels"):
        FlatFieldStep.call(frame, override_flat=str(calibration_files["flat"]))


def test_batch_reads_each_reference_once_and_gives_the_same_frames(calibration_files, monkeypatch):
    """Within batch(), frames reuse the references already read (a changed file is read again); the
    products are those of separate runs, and the batch lets the references go when it ends."""
    import gc
    import os

    from liger_iris_pipeline import base_step, batch

    reads = []
    open_model = datamodels.open

    def counting_open(init, *args, **kwargs):
        if kwargs.get("model_class"):  # a reference, not the frame
            reads.append(os.path.basename(init))
        return open_model(init, *args, **kwargs)

    steps = {
        "dq_init": {"override_mask": str(calibration_files["mask"])},
        "dark_current": {"override_dark": str(calibration_files["dark"])},
        "flat_field": {"override_flat": str(calibration_files["flat"])},
        "assign_wcs": {"override_distortion": "N/A"},
    }
    alone = ProcessImagerL2Pipeline.call(calibration_files["raw"], steps=steps)
    monkeypatch.setattr(base_step.datamodels, "open", counting_open)
    with batch():
        frames = [ProcessImagerL2Pipeline.call(calibration_files["raw"], steps=steps) for _ in range(3)]
        assert reads == ["mask.fits", "dark.fits", "flat.fits"]
        dark = datamodels.open(calibration_files["dark"])
        dark.data[0, 0] = 3.0
        dark.save(calibration_files["dark"])
        changed = ProcessImagerL2Pipeline.call(calibration_files["raw"], steps=steps)
        assert reads[-1] == "dark.fits"
    for frame in frames:
        for name in ("data", "err", "dq"):
            assert_array_equal(getattr(frame, name), getattr(alone, name))
        assert frame.meta.ref_file.instance == alone.meta.ref_file.instance
    assert changed.data[0, 0] == (10.0 - 3.0) / 0.5
    assert base_step._kept_references is None and gc.get_freeze_count() == 0
