"""The association generator (science exposures paired with their nearest background exposures) and
``tmtrun`` on the associations it writes."""

import json
import subprocess

import numpy as np
import pytest

from commands import assert_one_line_error, command
from frames import SHAPE, make_frame
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.associations import generate_associations, load_association


def write_exposure(directory, name, exposure_type, time, filter_name="Ks", value=10.0):
    frame = make_frame(np.full(SHAPE, value), err=np.ones(SHAPE))
    frame.meta.exposure.type = exposure_type
    frame.meta.observation.time = time
    frame.meta.instrument.filter = filter_name
    path = directory / f"{name}.fits"
    frame.save(path)
    return path


@pytest.fixture
def night(tmp_path):
    """Science at 08:00 and 08:30 in Ks, one at 08:10 in H; skies in Ks at 07:50, 08:05, 08:40, in H at 09:00."""
    return [
        write_exposure(tmp_path, "sci_ks_1", "SCIENCE", "08:00:00.000"),
        write_exposure(tmp_path, "sci_ks_2", "SCIENCE", "08:30:00.000"),
        write_exposure(tmp_path, "sci_h", "SCIENCE", "08:10:00.000", "H"),
        write_exposure(tmp_path, "sky_ks_a", "SKY", "07:50:00.000", value=4.0),
        write_exposure(tmp_path, "sky_ks_b", "SKY", "08:05:00.000", value=4.0),
        write_exposure(tmp_path, "sky_ks_c", "SKY", "08:40:00.000", value=4.0),
        write_exposure(tmp_path, "sky_h", "SKY", "09:00:00.000", "H", value=4.0),
    ]


def members(document):
    ((product),) = document["products"]
    return [(member["expname"], member["exptype"]) for member in product["members"]]


def test_each_science_gets_its_nearest_backgrounds_of_the_same_filter(night, tmp_path):
    documents = generate_associations(night, tmp_path, n_background=2)
    assert sorted(documents) == ["sci_h", "sci_ks_1", "sci_ks_2"]
    assert members(documents["sci_ks_1"]) == [
        ("sci_ks_1.fits", "science"), ("sky_ks_a.fits", "background"), ("sky_ks_b.fits", "background")
    ]
    assert members(documents["sci_ks_2"]) == [
        ("sci_ks_2.fits", "science"), ("sky_ks_b.fits", "background"), ("sky_ks_c.fits", "background")
    ]
    assert members(documents["sci_h"]) == [("sci_h.fits", "science"), ("sky_h.fits", "background")]
    assert members(generate_associations(night, tmp_path)["sci_ks_1"])[1:] == [("sky_ks_b.fits", "background")]


def test_cli_writes_valid_associations_that_tmtrun_runs(night, tmp_path):
    result = subprocess.run([command("liger-iris-asn"), *map(str, night)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = sorted(result.stdout.split())
    assert [path.rsplit("/", 1)[1] for path in written] == ["sci_h_asn.json", "sci_ks_1_asn.json", "sci_ks_2_asn.json"]
    (product,) = load_association(tmp_path / "sci_ks_1_asn.json")
    assert product.background == ((tmp_path / "sky_ks_b.fits").resolve(),)
    out = tmp_path / "out"
    run = subprocess.run(
        [command("tmtrun"), "background", str(tmp_path / "sci_ks_1_asn.json"), f"--output-dir={out}"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    with datamodels.open(out / "sci_ks_1_bkgsub.fits") as subtracted:
        np.testing.assert_allclose(subtracted.data, 6.0)
        np.testing.assert_allclose(subtracted.err, np.sqrt(2.0))
        assert subtracted.meta.cal_step.background == "COMPLETE"


def test_cli_names_an_unreadable_exposure(tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_text("not fits")
    result = subprocess.run([command("liger-iris-asn"), str(bad)], capture_output=True, text=True)
    assert_one_line_error(result, "liger-iris-asn", "broken.fits", "cannot read its header")
    assert not list(tmp_path.glob("*.json"))


def test_generated_association_is_schema_valid_json(night, tmp_path):
    for document in generate_associations(night, tmp_path).values():
        path = tmp_path / "check_asn.json"
        path.write_text(json.dumps(document))
        assert load_association(path)[0].science


def test_image3_association_holds_one_product_of_the_science_exposures_in_time_order(night, tmp_path):
    arguments = ["--image3", "field_mosaic", "--output-dir", str(tmp_path), *map(str, night[1::-1])]
    result = subprocess.run([command("liger-iris-asn"), *arguments], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "field_mosaic_asn.json"
    assert result.stdout.split() == [str(path)]
    document = json.loads(path.read_text())
    assert document["asn_type"] == "image3"
    assert members(document) == [("sci_ks_1.fits", "science"), ("sci_ks_2.fits", "science")]
    ((product),) = load_association(path)
    assert product.name == "field_mosaic" and product.science == (night[0], night[1])


@pytest.mark.parametrize(
    "pick, problem",
    [((0, 2), "IRIS/H differs from sci_ks_1.fits's IRIS/Ks"), ((0, 3), "EXP_TYPE SKY, not SCIENCE")],
    ids=["other-filter", "background"],
)
def test_image3_association_refuses_a_mixed_set_naming_the_exposure(night, tmp_path, pick, problem):
    arguments = ["--image3", "mosaic", "--output-dir", str(tmp_path), *(str(night[i]) for i in pick)]
    result = subprocess.run([command("liger-iris-asn"), *arguments], capture_output=True, text=True)
    assert_one_line_error(result, "liger-iris-asn", problem)
    assert str(night[pick[1]]) in result.stderr
    assert not (tmp_path / "mosaic_asn.json").exists()
