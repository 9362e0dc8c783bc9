"""Best references chosen by the real crds client from the rules the store writer makes."""

import hashlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crds_helpers import FRAME, crds_environment, select, write_flat
from frames import make_frame, make_reference
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import Store, StoreError, add_references
from liger_iris_pipeline.reference_store.mappings import mapping_checksum


@pytest.fixture
def flat_store(tmp_path):
    """A store whose context 1 has IRIS flats for Ks (2020 and 2027), H, a SUB64 window, and a Liger Ks flat."""
    flats = [
        write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_1.fits"),
        write_flat(tmp_path, "IRIS_IMG1_FLAT_20270101T000000_1.fits", useafter="2027-01-01T00:00:00"),
        write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_2.fits", filter_name="H"),
        write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_3.fits", subarray="SUB64"),
        write_flat(tmp_path, "Liger_IMG_FLAT_20200101T000000_1.fits", instrument="LIGER"),
    ]
    store = tmp_path / "store"
    assert add_references(store, flats, "first flats") == "ligeriri_0001.pmap"
    return store


@pytest.mark.science
def test_each_frame_gets_the_reference_for_its_detector_filter_subarray_and_date(flat_store):
    cases = [
        ({}, "IRIS_IMG1_FLAT_20200101T000000_1.fits"),
        ({"META.OBSERVATION.DATE": "2027-06-01"}, "IRIS_IMG1_FLAT_20270101T000000_1.fits"),
        ({"META.INSTRUMENT.FILTER": "H"}, "IRIS_IMG1_FLAT_20200101T000000_2.fits"),
        ({"META.SUBARRAY.NAME": "SUB64"}, "IRIS_IMG1_FLAT_20200101T000000_3.fits"),
        ({"META.SUBARRAY.NAME": "SUB128"}, "IRIS_IMG1_FLAT_20200101T000000_1.fits"),  # full frame serves any window
        ({"META.INSTRUMENT.NAME": "LIGER", "META.INSTRUMENT.DETECTOR": "IMG"}, "Liger_IMG_FLAT_20200101T000000_1.fits"),
    ]
    answers = select(flat_store, [{**FRAME, **change} for change, _ in cases], ["flat"])
    assert [answer["flat"] for answer in answers] == [expected for _, expected in cases]


@pytest.mark.science
def test_a_date_between_two_useafters_picks_the_earlier(flat_store):
    (before, between, after) = select(
        flat_store,
        [{**FRAME, "META.OBSERVATION.DATE": date} for date in ("2019-12-31", "2026-12-31", "2027-01-01")],
        ["flat"],
    )
    assert before["flat"].startswith("NOT FOUND")  # nothing in force before the first USEAFTER
    assert between["flat"] == "IRIS_IMG1_FLAT_20200101T000000_1.fits"
    assert after["flat"] == "IRIS_IMG1_FLAT_20270101T000000_1.fits"


@pytest.mark.science
def test_a_new_context_changes_the_choice_only_where_it_applies(flat_store, tmp_path):
    new_flat = write_flat(tmp_path, "IRIS_IMG1_FLAT_20260101T000000_1.fits", filter_name="H", useafter="2026-01-01T00:00:00")
    assert add_references(flat_store, [new_flat], "new H flat") == "ligeriri_0002.pmap"
    frames = [{**FRAME, "META.INSTRUMENT.FILTER": "H"}, FRAME, {**FRAME, "META.INSTRUMENT.FILTER": "H", "META.OBSERVATION.DATE": "2025-12-31"}]
    new = [answer["flat"] for answer in select(flat_store, frames, ["flat"])]
    old = [answer["flat"] for answer in select(flat_store, frames, ["flat"], context="ligeriri_0001.pmap")]
    assert new == ["IRIS_IMG1_FLAT_20260101T000000_1.fits", "IRIS_IMG1_FLAT_20200101T000000_1.fits", "IRIS_IMG1_FLAT_20200101T000000_2.fits"]
    assert old == ["IRIS_IMG1_FLAT_20200101T000000_2.fits", "IRIS_IMG1_FLAT_20200101T000000_1.fits", "IRIS_IMG1_FLAT_20200101T000000_2.fits"]
    # Only the IRIS flat rules changed: Liger's imap and the other IRIS rmaps are shared by both contexts.
    store = Store(flat_store)
    assert store.read_mapping("ligeriri_0002.pmap")[1] == {"IRIS": "ligeriri_iris_0002.imap", "LIGER": "ligeriri_liger_0001.imap"}
    assert store.read_mapping("ligeriri_iris_0002.imap")[1]["FLAT"] == "ligeriri_iris_flat_0002.rmap"
    assert store.read_mapping("ligeriri_iris_0002.imap")[1]["DARK"] == "N/A"


def test_reference_types_without_rules_are_not_applicable(flat_store):
    (answer,) = select(flat_store, [FRAME], ["dark", "mask", "gain"])
    assert answer == {"dark": "NOT FOUND n/a", "mask": "NOT FOUND n/a", "gain": "NOT FOUND n/a"}


def test_every_mapping_carries_its_sha1_and_crds_rejects_a_changed_one(flat_store):
    mappings = sorted((flat_store / "mappings" / "ligeriri").iterdir())
    assert len(mappings) == 5  # pmap, two imaps, two flat rmaps
    for path in mappings:
        text = path.read_text()
        assert f"'sha1sum' : '{mapping_checksum(text)}'" in text
    rmap = flat_store / "mappings" / "ligeriri" / "ligeriri_iris_flat_0001.rmap"
    rmap.write_text(rmap.read_text().replace("'H'", "'J'"))
    code = (
        "import liger_iris_crds_hook; liger_iris_crds_hook.install(); from crds.core import rmap; "
        "rmap.load_mapping('ligeriri_iris_flat_0001.rmap')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=crds_environment(flat_store))
    assert result.returncode != 0
    assert "sha1sum mismatch in 'ligeriri_iris_flat_0001.rmap'" in result.stderr


def test_store_keeps_references_byte_for_byte(flat_store, tmp_path):
    stored = flat_store / "references" / "ligeriri" / "IRIS_IMG1_FLAT_20200101T000000_2.fits"
    original = tmp_path / "IRIS_IMG1_FLAT_20200101T000000_2.fits"
    assert hashlib.sha1(stored.read_bytes()).digest() == hashlib.sha1(original.read_bytes()).digest()
    metadata = Store(flat_store).server_config()["download_metadata"][stored.name]
    assert metadata == {"size": stored.stat().st_size, "sha1sum": hashlib.sha1(stored.read_bytes()).hexdigest()}


def test_store_refuses_bad_references(flat_store, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    clash = write_flat(other, "IRIS_IMG1_FLAT_20200101T000000_1.fits", filter_name="J")
    with pytest.raises(StoreError, match="a different file named IRIS_IMG1_FLAT_20200101T000000_1.fits is already"):
        add_references(flat_store, [clash])
    frame = tmp_path / "frame.fits"
    make_frame(np.zeros((4, 4))).save(frame)
    with pytest.raises(StoreError, match=r"frame.fits: not a reference file \(ImagerModel\)"):
        add_references(flat_store, [frame])
    undated = make_reference(datamodels.FlatModel, "FLAT", data=np.ones((4, 4), np.float32))
    undated.meta.useafter = None
    undated.save(tmp_path / "undated.fits")
    with pytest.raises(StoreError, match="undated.fits: missing required keyword\\(s\\) USEAFTER"):
        add_references(flat_store, [tmp_path / "undated.fits"])
    assert Store(flat_store).server_config()["operational_context"] == "ligeriri_0001.pmap"


def test_crds_internals_we_rely_on():
    """The plug-in depends on these crds 14.0.3 internals; an upgrade that changes them must fail here."""
    import liger_iris_crds_hook

    liger_iris_crds_hook.install()
    from crds.core import constants, heavy_client, rmap, utils

    assert "ligeriri" in constants.ALL_OBSERVATORIES
    # Modules bind the list itself, so adding to it reaches every check.
    assert heavy_client.ALL_OBSERVATORIES is constants.ALL_OBSERVATORIES
    assert rmap.ALL_OBSERVATORIES is constants.ALL_OBSERVATORIES
    locate = utils.get_locator_module("ligeriri")
    assert locate.__name__ == "crds.ligeriri.locate"
    assert locate.decompose_newstyle_name("ligeriri_iris_flat_0002.rmap")[2:5] == ("iris", "flat", "0002")
    assert locate.get_file_properties("Liger_IMG_DARK_20200101T000000_1.fits") == ("liger", "dark")
    import crds.ligeriri

    assert crds.ligeriri.FILEKINDS == ["dark", "distortion", "flat", "gain", "mask", "nonlinearity", "readnoise", "saturation"]
    assert locate.get_file_properties("IRIS_IMG1_DISTORTION_20200101T000000_1.asdf") == ("iris", "distortion")
    assert rmap.Mapping._get_checksum(None, "header = {\n'sha1sum' : 'x',\n}\n") == mapping_checksum("header = {\n'sha1sum' : 'x',\n}\n")
    # The community cache's conventions (crds_ligeriri/community.py): the alias lookup wraps crds's get_rmap, the
    # READMODE DEFAULT hook is found by crds's name for it, and the cache's layout is crds's per-process global.
    assert rmap.InstrumentContext.get_rmap.ligeriri_aliases
    assert "_".join(["fallback_header", "iris", "dq", "v1"]) in vars(utils.get_object("crds", "ligeriri", "iris"))
    hook_name = 'hook_name = "_".join([name, self.instrument, self.filekind, "v1"])'
    assert hook_name in inspect.getsource(rmap.ReferenceMapping.get_hook)
    assert "self.locate.fits_to_parkeys(header)" in inspect.getsource(rmap.Mapping.minimize_header)
    from crds.core import config

    assert hasattr(config, "CRDS_REF_SUBDIR_MODE") and config.get_crds_ref_subdir_file("ligeriri").endswith(
        "config/ligeriri/ref_cache_subdir_mode"
    )


def test_steps_take_crds_choice_and_skip_what_does_not_apply(flat_store, tmp_path):
    raw = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"
    make_frame(np.full((4, 4), 8.0)).save(raw)
    tmtrun = str(Path(sys.executable).parent / "tmtrun")
    result = subprocess.run(
        [tmtrun, "process_imager_l2", str(raw), f"--output-dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=crds_environment(flat_store),
    )
    assert result.returncode == 0, result.stderr
    assert "no mask reference applies (N/A); dq_init skipped" in result.stderr
    with datamodels.open(tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits") as cal:
        assert (cal.meta.cal_step.dq_init, cal.meta.cal_step.dark_current, cal.meta.cal_step.flat_field) == (
            "SKIPPED",
            "SKIPPED",
            "COMPLETE",
        )
        assert cal.meta.ref_file.flat.name == "IRIS_IMG1_FLAT_20270101T000000_1.fits"  # observed 2027-05-01
        assert (cal.meta.ref_file.mask.name, cal.meta.ref_file.dark.name) == ("N/A", "N/A")
        # No distortion rules: a TAN WCS, said in S_DISTOR and R_DISTOR.
        assert (cal.meta.cal_step.distortion, cal.meta.ref_file.distortion.name) == ("SKIPPED", "N/A")
        assert cal.meta.ref_file.crds.context_used == "ligeriri_0001.pmap"
        assert np.all(cal.data == 8.0)  # the flat is all ones


def test_crds_add_references_command(tmp_path):
    command = str(Path(sys.executable).parent / "crds_add_references")
    flat = write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_1.fits")
    store = tmp_path / "store"
    first = subprocess.run([command, "--store", str(store), str(flat)], capture_output=True, text=True)
    assert (first.returncode, first.stdout.strip()) == (0, "ligeriri_0001.pmap")
    (tmp_path / "notes.fits").write_text("not a reference")
    bad = subprocess.run([command, "--store", str(store), str(tmp_path / "notes.fits")], capture_output=True, text=True)
    assert bad.returncode == 1
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith(f"crds_add_references: error: {tmp_path / 'notes.fits'}: not a readable FITS file")
    assert Store(store).server_config()["operational_context"] == "ligeriri_0001.pmap"


def test_crds_bestrefs_reads_a_raw_frames_plain_fits_header(flat_store, tmp_path):
    """``crds bestrefs --files`` reads FITS keywords (DETECTOR, FILTER, DATE-OBS...); our rmaps select on
    data-model paths: the plug-in pairs them from the schema, so the command picks what the pipeline picks."""
    raw = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"
    make_frame(np.full((4, 4), 8.0)).save(raw)
    crds = str(Path(sys.executable).parent / "crds")
    result = subprocess.run(
        [crds, "bestrefs", "--files", str(raw), "--types", "flat", "--print-new-references"],
        capture_output=True, text=True, env=crds_environment(flat_store),
    )
    assert result.returncode == 0, result.stderr
    assert "0 errors" in result.stderr + result.stdout
    chosen = [line.split() for line in result.stdout.splitlines() if line.startswith(str(raw).lower())]
    assert [words[-1] for words in chosen] == ["iris_img1_flat_20270101t000000_1.fits"]  # observed 2027-05-01
