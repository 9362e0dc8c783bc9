"""JSON associations: validation with clear errors, and steps run on each science member."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frames import file_digest
from liger_iris_pipeline import ProcessImagerL2Pipeline, datamodels
from liger_iris_pipeline.associations import AssociationError, load_association

RAW = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


def write_association(directory, products, name="asn.json"):
    path = directory / name
    path.write_text(json.dumps({"asn_type": "image2", "asn_rule": "test", "asn_pool": "none", "products": products}))
    return path


def science(*names):
    return [{"expname": name, "exptype": "science"} for name in names]


def test_members_resolve_against_the_association_directory(calibration_files):
    directory = calibration_files["raw"].parent
    asn = write_association(directory, [{"name": "target_a", "members": science(RAW)}])
    (product,) = load_association(asn)
    assert product.name == "target_a"
    assert product.science == (calibration_files["raw"].resolve(),)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"products": []}', "invalid association at top level: 'asn_type' is a required property"),
        ('{"asn_type": "image2", "products": []}', "invalid association at products"),
        (
            '{"asn_type": "image2", "products": [{"name": "a", "members": [{"expname": "x.fits", "exptype": "dark"}]}]}',
            "invalid association at products/0/members/0/exptype",
        ),
        ('{"asn_type": "image2", "products": [], "surprise": 1}', "invalid association at top level"),
    ],
)
def test_bad_association_is_named(tmp_path, document, message):
    path = tmp_path / "bad_asn.json"
    path.write_text(document)
    with pytest.raises(AssociationError, match=f"bad_asn.json: {message}"):
        load_association(path)


def test_an_association_larger_than_any_needs_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge_asn.json"
    path.write_text('{"asn_type": "image2", "products": []' + " " * (16 << 20) + "}")
    with pytest.raises(AssociationError, match="huge_asn.json: 16777254 bytes, more than an association may hold"):
        load_association(path)


def test_missing_member_and_member_outside_are_errors(tmp_path):
    (tmp_path / "inner").mkdir()
    (tmp_path / "outside.fits").write_bytes(b"")
    missing = write_association(tmp_path / "inner", [{"name": "p", "members": science("gone.fits")}])
    with pytest.raises(AssociationError, match="asn.json: member gone.fits not found"):
        load_association(missing)
    escaping = write_association(tmp_path / "inner", [{"name": "p", "members": science("../outside.fits")}])
    with pytest.raises(AssociationError, match=r"asn.json: member \.\./outside.fits is outside"):
        load_association(escaping)


def test_pipeline_runs_each_science_member_and_names_output_after_product(calibration_files, tmp_path):
    directory = calibration_files["raw"].parent
    second = directory / RAW.replace("0001", "0002")
    second.write_bytes(calibration_files["raw"].read_bytes())
    asn = write_association(
        directory,
        [{"name": "field_1", "members": science(RAW)}, {"name": "field_2", "members": science(second.name)}],
    )
    digest = file_digest(calibration_files["raw"])
    out = tmp_path / "out"
    command = [
        str(Path(sys.executable).parent / "tmtrun"),
        "process_imager_l2",
        str(asn),
        f"--output-dir={out}",
        f"--steps.dq_init.override_mask={calibration_files['mask']}",
        f"--steps.dark_current.override_dark={calibration_files['dark']}",
        f"--steps.flat_field.override_flat={calibration_files['flat']}",
        "--steps.assign_wcs.override_distortion=N/A",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["field_1_cal.fits", "field_2_cal.fits"]
    for name in ("field_1_cal.fits", "field_2_cal.fits"):
        with datamodels.open(out / name) as cal:
            assert cal.data[0, 0] == pytest.approx((10 - 2) / 0.5)
            assert cal.meta.filename == name
    assert file_digest(calibration_files["raw"]) == digest


def test_association_from_python_returns_one_result_per_member(calibration_files):
    asn = write_association(calibration_files["raw"].parent, [{"name": "p", "members": science(RAW)}])
    results = ProcessImagerL2Pipeline.call(
        asn,
        steps={
            **{name: {"skip": True} for name in ("dq_init", "dark_current", "flat_field")},
            "assign_wcs": {"override_distortion": "N/A"},
        },
    )
    assert len(results) == 1
    assert np.all(results[0].data == 10.0)
    assert results[0].meta.cal_step.assign_wcs == "COMPLETE"


@pytest.mark.parametrize(
    ("member", "problem"),
    [("nowhere.fits", "member nowhere.fits not found"), (f"../{RAW}", f"member ../{RAW} is outside the association's directory")],
)
def test_tmtrun_bad_association_is_one_line(calibration_files, tmp_path, member, problem):
    """Also a member escaping the association's directory, though the file exists there."""
    (tmp_path / "asn").mkdir()
    asn = write_association(tmp_path / "asn", [{"name": "p", "members": science(member)}])
    digests = {path: file_digest(path) for path in (asn, calibration_files["raw"])}
    out = tmp_path / "out"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tmtrun"), "dq_init", str(asn), f"--output-dir={out}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"tmtrun: error: {asn}: {problem}"
    assert {path: file_digest(path) for path in digests} == digests
    assert not out.exists()
