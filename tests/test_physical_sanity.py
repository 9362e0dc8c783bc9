"""Physical sanity of what a step reads: units (BUNIT) of every kind of frame and reference, a reference's type
and model, and a reference that does not fit the frame (the pointing and plate scale: test_wcs.py).

A frame in counts is converted to DN/s (and gives the product of the same frame in DN/s); anything else that
is wrong is refused with one line naming the file and the keyword, telling a missing keyword from an
invalid one, and nothing is written."""

import subprocess

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose, assert_array_equal

from commands import assert_one_line_error, command
from frames import SHAPE, describe, file_digest, make_frame, make_reference
from liger_iris_pipeline import (
    AssignWcsStep,
    BackgroundStep,
    DarkCurrentStep,
    DQInitStep,
    FlatFieldStep,
    JumpStep,
    NormalizeStep,
    ProcessImagerL2Pipeline,
    RampFitStep,
    SaturationStep,
    SubtractImagesStep,
    datamodels,
    units,
)
from liger_iris_pipeline.base_step import StepInputError
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.simulator.ramp import RampReadout

RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


def tmtrun(*args):
    return subprocess.run([command("tmtrun"), *map(str, args)], capture_output=True, text=True)


def history(model):
    """The model's history entries, joined."""
    return "".join(entry["description"] for entry in model._asdf.tree.get("history", {}).get("entries", []))


def reference_steps(paths):
    return {
        "dq_init": {"override_mask": str(paths["mask"])},
        "dark_current": {"override_dark": str(paths["dark"])},
        "flat_field": {"override_flat": str(paths["flat"])},
        "assign_wcs": {"override_distortion": "N/A"},
    }


def counts_frame(path, exposure_time=10.0, sci=100.0, err=10.0):
    """The ``calibration_files`` frame as counts over ``exposure_time``: SCI ``sci`` DN, ERR ``err`` DN."""
    frame = make_frame(np.full(SHAPE, sci), err=np.full(SHAPE, err))
    frame.meta.exposure.exposure_time = exposure_time
    frame.meta.bunit_data = frame.meta.bunit_err = "DN"
    frame.save(path)
    return path


# --- Frames in counts are converted ------------------------------------------------------------------------


@pytest.mark.science
def test_a_frame_in_counts_gives_the_product_of_the_same_frame_in_dn_per_second(calibration_files, tmp_path):
    """100 DN over 10 s is the fixture's 10 DN/s (ERR 10 DN: 1 DN/s): the calibrated product is the same."""
    (tmp_path / "counts").mkdir()
    counts = counts_frame(tmp_path / "counts" / RAW_NAME)
    steps = reference_steps(calibration_files)
    from_rate = ProcessImagerL2Pipeline.call(calibration_files["raw"], steps=steps)
    from_counts = ProcessImagerL2Pipeline.call(counts, steps=steps)
    for name in ("data", "err", "dq"):
        assert_allclose(getattr(from_counts, name), getattr(from_rate, name), rtol=1e-6)
    assert (from_counts.meta.bunit_data, from_counts.meta.bunit_err) == ("DN/s", "DN/s")
    assert "units: SCI and ERR in DN divided by EXPTIME 10 s, now DN/s" in history(from_counts)


@pytest.mark.parametrize(
    "step, parameters",
    [
        (DQInitStep, {"override_mask": "N/A"}),
        (DarkCurrentStep, {"override_dark": "N/A"}),
        (FlatFieldStep, {"override_flat": "N/A"}),
        (AssignWcsStep, {"override_distortion": "N/A"}),
        (NormalizeStep, {}),
    ],
    ids=lambda value: getattr(value, "class_alias", ""),
)
def test_every_step_reads_a_frame_in_counts_as_dn_per_second(tmp_path, step, parameters):
    result = step.call(counts_frame(tmp_path / RAW_NAME, exposure_time=4.0, sci=20.0, err=2.0), **parameters)
    expected = 1.0 if step is NormalizeStep else 5.0  # normalize: divided by its own level
    assert_allclose(result.data, expected)
    assert_allclose(result.err, 0.5 / (5.0 if step is NormalizeStep else 1.0))
    assert "divided by EXPTIME 4 s" in history(result)


def test_sky_and_subtrahend_frames_in_counts_of_another_exposure_time_are_rates_too(tmp_path):
    """Frame 10 DN/s; sky 120 DN over 30 s = 4 DN/s: the difference is 6 DN/s whatever the sky's unit."""
    frame = make_frame(np.full(SHAPE, 10.0), err=np.zeros(SHAPE))
    sky = counts_frame(tmp_path / "sky.fits", exposure_time=30.0, sci=120.0, err=0.0)
    assert_allclose(SubtractImagesStep.call(frame, str(sky)).data, 6.0)
    assert_allclose(BackgroundStep.call(frame, [str(sky)]).data, 6.0)


# --- Units refused: frames and ramps -----------------------------------------------------------------------


def frame_with_units(path, sci_unit, err_unit=None, exposure_time=10.0):
    frame = make_frame(np.ones(SHAPE), err=np.ones(SHAPE))
    frame.meta.bunit_data, frame.meta.bunit_err = sci_unit, err_unit
    frame.meta.exposure.exposure_time = exposure_time
    frame.save(path)
    return path


BAD_FRAME_UNITS = {
    "missing": (None, None, 10.0, "missing keyword BUNIT (SCI); expected one of 'DN/s'"),
    "furlongs": ("furlongs", None, 10.0, "BUNIT 'furlongs' (SCI) is not one of 'DN/s', 'DN'"),
    "electrons": ("electron/s", None, 10.0, "BUNIT 'electron/s' (SCI) is not one of 'DN/s', 'DN'"),
    "dimensionless": ("", "", 10.0, "BUNIT '' (SCI) is not one of 'DN/s', 'DN'"),
    "err-other-unit": ("DN/s", "DN", 10.0, "BUNIT 'DN' of ERR differs from BUNIT 'DN/s' of SCI"),
    "counts-zero-exptime": ("DN", "DN", 0.0, "EXPTIME 0.0 is not a positive finite time"),
    "counts-negative-exptime": ("DN", "DN", -5.0, "EXPTIME -5.0 is not a positive finite time"),
}


@pytest.mark.parametrize("sci_unit, err_unit, exposure_time, problem", BAD_FRAME_UNITS.values(), ids=BAD_FRAME_UNITS)
def test_a_frame_in_a_unit_that_cannot_be_a_rate_is_refused(tmp_path, sci_unit, err_unit, exposure_time, problem):
    path = frame_with_units(tmp_path / RAW_NAME, sci_unit, err_unit, exposure_time)
    with pytest.raises(StepInputError, match=f"{RAW_NAME}: .*") as error:
        DQInitStep.call(path, override_mask="N/A")
    assert problem in str(error.value)


def test_counts_without_a_usable_exposure_time_in_memory_are_refused():
    frame = make_frame(np.ones(SHAPE))
    frame.meta.bunit_data, frame.meta.bunit_err, frame.meta.exposure.exposure_time = "DN", "DN", float("nan")
    frame.meta.filename = "nan_time.fits"
    with pytest.raises(StepInputError, match="nan_time.fits: EXPTIME nan is not a positive finite time"):
        FlatFieldStep.call(frame, override_flat="N/A")


def test_a_science_frame_in_counts_without_bunit_is_refused_by_tmtrun(calibration_files, tmp_path):
    """The issue's example, at the command line: one line, the frame unchanged, nothing written."""
    raw = calibration_files["raw"]
    with fits.open(raw, mode="update") as hdulist:
        del hdulist["ASDF"]  # as an instrument writes it
        del hdulist["SCI"].header["BUNIT"]
    digest = file_digest(raw)
    out = tmp_path / "out"
    options = [f"--steps.{step}.{key}={value}" for step, pars in reference_steps(calibration_files).items() for key, value in pars.items()]
    result = tmtrun("process_imager_l2", raw, "--output-dir", out, *options)
    assert_one_line_error(result, "tmtrun", RAW_NAME, "missing keyword BUNIT (SCI)")
    assert file_digest(raw) == digest
    assert not out.exists() or not any(out.iterdir())


def test_accepted_spellings_are_those_of_the_convention():
    assert [units.canonical_unit(text) for text in ("DN/s", "DN / s", "dn/s", "DN s-1", "DN", "", "e-/DN", "electron/DN")] == [
        "DN/s", "DN/s", "DN/s", "DN/s", "DN", "", "electron/DN", "electron/DN",
    ]
    assert [units.canonical_unit(text) for text in ("DN/h", "counts", "furlongs", None, 7)] == [None] * 5


def make_ramp(path, unit="DN", ngroups=3):
    """A UTR ramp of ``ngroups`` groups rising by 10 DN a group (1 DN/s at 10 s a group) in ``unit``."""
    groups = (10.0 * np.arange(ngroups, dtype=np.float32))[None, :, None, None] * np.ones((1, ngroups, *SHAPE), np.float32)
    ramp = describe(datamodels.RampModel(data=groups))
    exposure = ramp.meta.exposure
    exposure.readmode, exposure.nframes, exposure.frame_time, exposure.group_time = "UTR", 1, 10.0, 10.0
    exposure.nints, exposure.ngroups, exposure.groupgap = 1, ngroups, 0
    ramp.meta.bunit_data, ramp.meta.bunit_err = unit, None
    ramp.save(path)
    return path


@pytest.mark.parametrize("unit, problem", [(None, "missing keyword BUNIT (SCI)"), ("DN/s", "BUNIT 'DN/s' (SCI) is not one of 'DN'")])
def test_a_ramp_not_in_dn_is_refused(tmp_path, unit, problem):
    ramp = make_ramp(tmp_path / "ramp.fits", unit)
    with pytest.raises(StepInputError, match="ramp.fits: ") as error:
        DQInitStep.call(ramp, override_mask="N/A")
    assert problem in str(error.value)


# --- Units of references -----------------------------------------------------------------------------------


@pytest.fixture
def readout_references(tmp_path):
    """Gain 2 electron/DN, CDS read noise 1 DN, saturation 1000 DN: files by reftype."""
    arrays = {"gain": 2.0, "readnoise": 1.0, "saturation": 1000.0}
    classes = {"gain": datamodels.GainModel, "readnoise": datamodels.ReadnoiseModel, "saturation": datamodels.SaturationModel}
    paths = {}
    for reftype, value in arrays.items():
        paths[reftype] = tmp_path / f"{reftype}.fits"
        make_reference(classes[reftype], reftype.upper(), data=np.full(SHAPE, value, np.float32)).save(paths[reftype])
    return paths


def test_a_ramp_with_references_in_their_units_gives_its_rate(tmp_path, readout_references):
    refs = {f"override_{reftype}": str(path) for reftype, path in readout_references.items() if reftype != "saturation"}
    rate = RampFitStep.call(make_ramp(tmp_path / "ramp.fits"), **refs)
    assert_allclose(rate.data, 1.0, rtol=1e-5)
    assert rate.meta.bunit_data == "DN/s"


#: (step, its reference type, the model class, a unit of the wrong kind for it).
REFERENCE_CASES = {
    "dark": (DarkCurrentStep, datamodels.DarkModel, "electron/DN"),
    "flat": (FlatFieldStep, datamodels.FlatModel, "DN/s"),
    "gain": (JumpStep, datamodels.GainModel, "DN"),
    "readnoise": (JumpStep, datamodels.ReadnoiseModel, "DN/s"),
    "saturation": (SaturationStep, datamodels.SaturationModel, ""),
}


@pytest.mark.parametrize("reftype", REFERENCE_CASES)
@pytest.mark.parametrize("problem", ["missing", "invalid"])
def test_a_reference_without_its_unit_or_in_another_unit_is_refused(tmp_path, readout_references, reftype, problem):
    step, model_class, wrong_unit = REFERENCE_CASES[reftype]
    reference = make_reference(model_class, reftype.upper(), data=np.ones(SHAPE, np.float32))
    reference.meta.bunit_data = None if problem == "missing" else wrong_unit
    reference.meta.bunit_err = None
    path = tmp_path / f"bad_{reftype}.fits"
    reference.save(path)
    allowed = units.describe_units(units.REFERENCE_UNITS[reftype])
    expected = (
        f"bad_{reftype}.fits: missing keyword BUNIT (SCI); expected one of {allowed}"
        if problem == "missing"
        else f"bad_{reftype}.fits: BUNIT {wrong_unit!r} (SCI) is not one of {allowed}"
    )
    overrides = {f"override_{name}": str(file) for name, file in readout_references.items()}
    overrides[f"override_{reftype}"] = str(path)
    frame = make_ramp(tmp_path / "ramp.fits") if step in (JumpStep, SaturationStep) else make_frame(np.ones(SHAPE))
    parameters = {name: value for name, value in overrides.items() if name.removeprefix("override_") in step.reference_file_types}
    with pytest.raises(StepInputError) as error:
        step.call(frame, **parameters)
    assert expected in str(error.value)


def test_a_dark_in_counts_without_bunit_is_refused_not_subtracted_as_a_rate(calibration_files, tmp_path):
    """The issue's example: 600 DN of dark over 300 s with no BUNIT was subtracted as 600 DN/s."""
    dark = make_reference(datamodels.DarkModel, "DARK", data=np.full(SHAPE, 600.0, np.float32))
    dark.meta.bunit_data = dark.meta.bunit_err = None
    dark.meta.exposure.exposure_time = 300.0
    dark.save(tmp_path / "dark_counts.fits")
    with pytest.raises(StepInputError, match="dark_counts.fits: missing keyword BUNIT"):
        DarkCurrentStep.call(calibration_files["raw"], override_dark=str(tmp_path / "dark_counts.fits"))


@pytest.mark.parametrize("exposure_time, problem", [(None, "missing keyword EXPTIME"), (0.0, "EXPTIME 0.0 is not a positive")])
def test_a_dark_in_counts_needs_its_exposure_time(calibration_files, tmp_path, exposure_time, problem):
    dark = make_reference(datamodels.DarkModel, "DARK", data=np.full(SHAPE, 600.0, np.float32))
    dark.meta.bunit_data = dark.meta.bunit_err = "DN"
    dark.meta.exposure.exposure_time = exposure_time
    dark.save(tmp_path / "dark_counts.fits")
    with pytest.raises(StepInputError, match=f"dark_counts.fits: {problem}"):
        DarkCurrentStep.call(calibration_files["raw"], override_dark=str(tmp_path / "dark_counts.fits"))


def test_the_simulator_writes_every_unit_the_steps_require(tmp_path):
    observation = simulate_observation(
        tmp_path, size=32, n_stars=3, n_sky=1, n_darks=1, n_flats=1, subarrays=[("A", 1, 1, 8, 8)],
        readout=RampReadout("UTR", ngroups=3, frame_time=10.0),
    )
    checked = set()
    for path in sorted(tmp_path.glob("*.fits")):
        with datamodels.open(path) as model:
            reftype = model.reftype
            if reftype in units.REFERENCE_UNITS:
                units.data_unit(model, units.REFERENCE_UNITS[reftype])
                assert fits.getheader(path, "SCI")["BUNIT"] == model.meta.bunit_data
            elif isinstance(model, datamodels.RampModel):
                assert units.data_unit(model, units.RAMP_UNITS) == "DN"
            elif isinstance(model, datamodels.ImagerModel):
                assert (fits.getheader(path, "SCI")["BUNIT"], fits.getheader(path, "ERR")["BUNIT"]) == ("DN/s", "DN/s")
            checked.add(reftype or type(model).__name__)
    assert checked == {"ImagerModel", "RampModel", "mask", "dark", "flat", "saturation", "nonlinearity", "readnoise", "gain"}
    assert observation.true_flat.exists() and observation.truth and observation.subarrays


# --- A reference's type and model ---------------------------------------------------------------------------


def edited_reference(path, source, change):
    """``source`` copied to ``path`` with ``change(header)`` done to its primary header, ASDF copy removed."""
    with fits.open(source) as hdulist:
        del hdulist["ASDF"]
        change(hdulist[0].header)
        hdulist.writeto(path)
    return path


def drop(keyword):
    return lambda header: header.remove(keyword)


def put(keyword, value):
    return lambda header: header.set(keyword, value)


IDENTITY_CASES = {
    "no-reftype": ("flat", drop("REFTYPE"), "missing keyword REFTYPE (expected FLAT)"),
    "no-datamodl": ("flat", drop("DATAMODL"), "missing keyword DATAMODL (expected FlatModel)"),
    "reftype-of-a-dark": ("flat", put("REFTYPE", "DARK"), "REFTYPE 'DARK' is not 'FLAT'"),
    "model-of-a-dark": ("flat", put("DATAMODL", "DarkModel"), "DATAMODL 'DarkModel' is not 'FlatModel'"),
    "flat-as-dark": ("dark", lambda header: None, "REFTYPE 'FLAT' is not 'DARK'"),
    "flat-as-mask": ("mask", lambda header: None, "REFTYPE 'FLAT' is not 'MASK'"),
}


@pytest.mark.parametrize("reftype, change, problem", IDENTITY_CASES.values(), ids=IDENTITY_CASES)
def test_a_reference_of_another_type_or_model_is_refused(calibration_files, tmp_path, reftype, change, problem):
    path = edited_reference(tmp_path / "edited.fits", calibration_files["flat"], change)
    step = {"flat": FlatFieldStep, "dark": DarkCurrentStep, "mask": DQInitStep}[reftype]
    with pytest.raises(StepInputError, match="edited.fits: ") as error:
        step.call(calibration_files["raw"], **{f"override_{reftype}": str(path)})
    assert problem in str(error.value)


def test_a_raw_frame_given_as_a_reference_is_refused(calibration_files):
    with pytest.raises(StepInputError, match=f"{RAW_NAME}: missing keyword REFTYPE \\(expected DARK\\)"):
        DarkCurrentStep.call(calibration_files["raw"], override_dark=str(calibration_files["raw"]))


def test_a_reference_given_as_the_frame_is_refused(calibration_files):
    with pytest.raises(StepInputError, match="flat.fits: a flat reference \\(FlatModel\\), not a frame"):
        FlatFieldStep.call(calibration_files["flat"], override_flat=str(calibration_files["flat"]))


# --- A reference that does not fit the frame ----------------------------------------------------------------


def saved_reference(path, model_class, reftype, **meta):
    """A reference of the fixture's shape whose metadata paths ``meta`` (``instrument.filter``...) are set."""
    arrays = {"dq": np.zeros(SHAPE, np.uint32)} if model_class is datamodels.MaskModel else {"data": np.ones(SHAPE, np.float32)}
    reference = make_reference(model_class, reftype, **arrays)
    for dotted, value in meta.items():
        group, name = dotted.split(".")
        setattr(getattr(reference.meta, group), name, value)
    reference.save(path)
    return path


MISFITS = {
    "flat-of-another-filter": (FlatFieldStep, datamodels.FlatModel, "flat", {"instrument.filter": "H"}, "FILTER 'H' (frame 'Ks')"),
    "dark-of-another-readmode": (DarkCurrentStep, datamodels.DarkModel, "dark", {"exposure.readmode": "CDS"}, "READMODE 'CDS' (frame 'ROP')"),
    "mask-of-a-subarray": (DQInitStep, datamodels.MaskModel, "mask", {"subarray.name": "SUB64"}, "SUBARRAY 'SUB64' (frame None)"),
    "flat-of-the-other-instrument": (
        FlatFieldStep, datamodels.FlatModel, "flat", {"instrument.name": "LIGER", "instrument.detector": "IMG"},
        "INSTRUME 'LIGER' (frame 'IRIS'), DETECTOR 'IMG' (frame 'IMG1')",
    ),
}


@pytest.fixture
def rop_frame():
    frame = make_frame(np.full(SHAPE, 10.0), err=np.zeros(SHAPE))
    frame.meta.exposure.readmode = "ROP"
    frame.meta.filename = "frame.fits"
    return frame


@pytest.mark.parametrize("step, model_class, reftype, meta, misfit", MISFITS.values(), ids=MISFITS)
def test_an_override_reference_that_does_not_fit_is_refused_unless_allowed(tmp_path, rop_frame, step, model_class, reftype, meta, misfit):
    path = saved_reference(tmp_path / "other.fits", model_class, reftype.upper(), **meta)
    override = {f"override_{reftype}": str(path)}
    with pytest.raises(StepInputError) as error:
        step.call(rop_frame, **override)
    assert f"other.fits: {reftype} reference does not fit frame.fits: {misfit} (allow_reference_mismatch=True uses it anyway)" in str(error.value)

    allowed = step.call(rop_frame, allow_reference_mismatch=True, **override)
    assert getattr(allowed.meta.cal_step, step.class_alias) == "COMPLETE"
    text = history(allowed)
    assert f"{reftype} reference does not fit frame.fits: {misfit}; used as allow_reference_mismatch says" in text
    assert '"allow_reference_mismatch": true' in text


def test_unset_selection_keywords_and_a_full_frame_reference_fit_any_frame(tmp_path, rop_frame):
    flat = saved_reference(tmp_path / "any.fits", datamodels.FlatModel, "FLAT", **{"instrument.filter": None, "subarray.name": "FULL"})
    assert FlatFieldStep.call(rop_frame, override_flat=str(flat)).meta.cal_step.flat_field == "COMPLETE"
    dark = saved_reference(tmp_path / "rop.fits", datamodels.DarkModel, "DARK", **{"exposure.readmode": "ROP"})
    assert_array_equal(DarkCurrentStep.call(rop_frame, override_dark=str(dark)).data, 9.0)


def test_a_reference_of_another_shape_is_refused_even_when_misfits_are_allowed(tmp_path, rop_frame):
    small = make_reference(datamodels.FlatModel, "FLAT", data=np.ones((3, 3), np.float32))
    small.save(tmp_path / "small.fits")
    with pytest.raises(StepInputError, match=r"small.fits: reference shape \(3, 3\) does not match"):
        FlatFieldStep.call(rop_frame, override_flat=str(tmp_path / "small.fits"), allow_reference_mismatch=True)


def test_the_parameter_is_documented_on_every_step_that_reads_references():
    for step in (DQInitStep, DarkCurrentStep, FlatFieldStep, AssignWcsStep, SaturationStep, JumpStep, RampFitStep):
        spec = step.load_spec_file()
        assert spec["allow_reference_mismatch"] == "boolean(default=False)"
        assert "instead of refusing it" in spec.inline_comments["allow_reference_mismatch"]
        assert step().get_pars()["allow_reference_mismatch"] is False
    assert "allow_reference_mismatch" not in NormalizeStep.load_spec_file()
