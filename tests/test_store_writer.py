"""The store writer keeps a store whole: concurrent writers take turns, and a reference that would break the
store (a name the fetch refuses, a match value crds reads as a pattern, a name that contradicts its header,
two files for one name or one selection) is refused with one line and leaves the store as it was."""

import multiprocessing
import re
import shutil

import numpy as np
import pytest

from crds_helpers import FRAME, select, write_flat
from frames import make_reference
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import FetchError, LayoutError, Store, StoreError, add_references
from liger_iris_pipeline.reference_store.layout import REFERENCE, Layout, checked_name

#: One flat per writer, each for its own frame: {reference name: (instrument, filter)}.
WRITERS = {
    "IRIS_IMG1_FLAT_20200101T000000_1.fits": ("IRIS", "Ks"),
    "IRIS_IMG1_FLAT_20200101T000000_2.fits": ("IRIS", "H"),
    "IRIS_IMG1_FLAT_20200101T000000_3.fits": ("IRIS", "J"),
    "Liger_IMG_FLAT_20200101T000000_1.fits": ("LIGER", "Ks"),
}


def frame_for(instrument, filter_name):
    detector = {"IRIS": "IMG1", "LIGER": "IMG"}[instrument]
    return {**FRAME, "META.INSTRUMENT.NAME": instrument, "META.INSTRUMENT.DETECTOR": detector, "META.INSTRUMENT.FILTER": filter_name}


def store_snapshot(store):
    """{relative path: bytes} of every file of a store but its lock."""
    return {
        path.relative_to(store): path.read_bytes()
        for path in sorted(store.rglob("*"))
        if path.is_file() and path.name != "server_config.lock"
    }


@pytest.fixture
def store(tmp_path):
    """A store whose context 1 has the IRIS Ks flat."""
    store = tmp_path / "store"
    assert add_references(store, [write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_1.fits")]) == "ligeriri_0001.pmap"
    return store


def _add_when_all_are_ready(barrier, store, reference, results):
    """A writer process: wait for every writer, then add ``reference`` as a context of its own."""
    barrier.wait(timeout=600)
    try:
        results.put((reference, add_references(store, [reference], f"writer of {reference}")))
    except Exception as error:  # reported to the test, which fails on it
        results.put((reference, f"{type(error).__name__}: {error}"))


@pytest.mark.science
def test_concurrent_writers_take_turns_and_every_context_selects_what_it_should(tmp_path):
    references = {name: write_flat(tmp_path, name, *setup) for name, setup in WRITERS.items()}
    store = tmp_path / "store"
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(len(references)), spawn.Queue()
    writers = [
        spawn.Process(target=_add_when_all_are_ready, args=(barrier, str(store), str(path), results))
        for path in references.values()
    ]
    for writer in writers:
        writer.start()
    try:
        contexts = dict(results.get(timeout=900) for _ in writers)  # {reference path: its context}
    finally:
        for writer in writers:
            writer.join(timeout=60)
    contexts = {tmp_path / path: context for path, context in contexts.items()}
    assert sorted(contexts.values()) == [f"ligeriri_{n:04d}.pmap" for n in (1, 2, 3, 4)], contexts

    config = Store(store).server_config()
    history = [context for context, _, _ in config["context_history"]]
    assert history == ["ligeriri_0001.pmap", "ligeriri_0002.pmap", "ligeriri_0003.pmap", "ligeriri_0004.pmap"]
    assert config["operational_context"] == "ligeriri_0004.pmap"
    added_by = {context: path.name for path, context in contexts.items()}
    frames = {name: frame_for(*setup) for name, setup in WRITERS.items()}
    # Context k selects the flat of each writer up to the k-th, and nothing for the writers after it.
    for k, context in enumerate(history, start=1):
        present = {added_by[earlier] for earlier in history[:k]}
        answers = select(store, list(frames.values()), ["flat"], context=context)
        for name, answer in zip(frames, answers, strict=True):
            if name in present:
                assert answer["flat"] == name, (context, name)
            else:
                assert answer["flat"].startswith("NOT FOUND"), (context, name, answer)
    assert {
        name: entry["sha1sum"] for name, entry in config["download_metadata"].items() if name.endswith(".fits")
    }.keys() == set(WRITERS)


def test_a_writer_waits_for_the_lock_and_gives_up_with_one_line(store, tmp_path, monkeypatch):
    monkeypatch.setattr("liger_iris_pipeline.reference_store.layout.LOCK_PATIENCE", 0.2)
    flat = write_flat(tmp_path, "IRIS_IMG1_FLAT_20200101T000000_2.fits", filter_name="H")
    before = store_snapshot(store)
    with Layout(store).lock(), pytest.raises(StoreError, match="server_config.lock: another writer has held this lock"):
        add_references(store, [flat])
    assert store_snapshot(store) == before
    assert add_references(store, [flat]) == "ligeriri_0002.pmap"  # the lock is free again


@pytest.mark.parametrize(
    "name",
    [
        "IRIS IMG1 FLAT.fits",
        ".IRIS_IMG1_FLAT.fits",
        "IRIS_IMG1_FLAT.FITS",
        "IRIS_IMG1_FLAT'1.fits",
        "IRIS_IMG1_FLAT_" + "9" * 120 + ".fits",
    ],
    ids=["space", "hidden", "upper-case-extension", "quote", "too-long"],
)
def test_a_reference_name_the_fetch_refuses_is_refused_when_added(store, tmp_path, name):
    flat = write_flat(tmp_path, name, filter_name="H")
    before = store_snapshot(store)
    with pytest.raises(LayoutError, match=re.escape(f"{flat}: refused file name {name!r}")) as refused:
        add_references(store, [flat])
    assert store_snapshot(store) == before
    # One rule: the fetch refuses the name in an rmap with the same words, and both callers catch it as theirs.
    with pytest.raises(FetchError) as fetched:
        checked_name(name, REFERENCE, "ligeriri_iris_flat_0002.rmap")
    assert str(refused.value).split(": ", 1)[1] == str(fetched.value).split(": ", 1)[1]
    assert isinstance(refused.value, StoreError)


@pytest.mark.science
def test_unusual_names_the_rule_accepts_are_selected_by_crds(tmp_path):
    """The rule is no looser than crds: names it accepts outside the naming convention still work."""
    store = tmp_path / "store"
    flats = [write_flat(tmp_path, "flat+v2.test.fits"), write_flat(tmp_path, "9-H_flat.fits", filter_name="H")]
    add_references(store, flats)
    answers = select(store, [FRAME, {**FRAME, "META.INSTRUMENT.FILTER": "H"}], ["flat"])
    assert [answer["flat"] for answer in answers] == ["flat+v2.test.fits", "9-H_flat.fits"]


@pytest.mark.parametrize("value", ["*", "KS|H", "(K.*)", "NOT KS", "# >1 #", "ANY H"])
def test_a_match_value_crds_would_read_as_a_pattern_is_refused(store, tmp_path, value):
    flat = write_flat(tmp_path, "IRIS_IMG1_FLAT_20210101T000000_1.fits", filter_name=value)
    before = store_snapshot(store)
    with pytest.raises(StoreError, match=re.escape(f"META.INSTRUMENT.FILTER {value!r} is not a plain value")):
        add_references(store, [flat])
    assert store_snapshot(store) == before


def test_a_conventional_name_that_contradicts_the_header_is_refused(store, tmp_path):
    flat = write_flat(tmp_path, "IRIS_IMG1_DARK_20210101T000000_1.fits", filter_name="H")
    with pytest.raises(StoreError, match="the name says IRIS IMG1 DARK, the header IRIS IMG1 FLAT"):
        add_references(store, [flat])
    liger = write_flat(tmp_path, "Liger_IMG_FLAT_20210101T000000_1.fits", filter_name="H")  # an IRIS flat
    with pytest.raises(StoreError, match="the name says LIGER IMG FLAT, the header IRIS IMG1 FLAT"):
        add_references(store, [liger])


def test_two_files_for_one_name_or_one_selection_in_one_call_are_refused(store, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    name = "IRIS_IMG1_FLAT_20210101T000000_1.fits"
    first, second = write_flat(tmp_path / "a", name, filter_name="H"), write_flat(tmp_path / "b", name, filter_name="J")
    before = store_snapshot(store)
    with pytest.raises(StoreError, match=re.escape(f"{second}: a different file named {name} is also given ({first})")):
        add_references(store, [first, second])
    twin = tmp_path / "IRIS_IMG1_FLAT_20210101T000000_2.fits"
    shutil.copy(first, twin)  # another name, the same type, match values and USEAFTER
    with pytest.raises(StoreError, match=re.escape(f"{twin}: selected for the same iris flat match")):
        add_references(store, [first, twin])
    assert store_snapshot(store) == before
    assert add_references(store, [first, first]) == "ligeriri_0002.pmap"  # the same file twice counts once


@pytest.mark.parametrize(("unit", "problem"), [(None, "missing keyword BUNIT (SCI)"), ("DN/s", "BUNIT 'DN/s' (SCI) is not one of ''")])
def test_a_reference_in_a_unit_the_steps_refuse_does_not_enter_the_store(store, tmp_path, unit, problem):
    """Every step that selected it would refuse it: refused when added, naming the file, the store unchanged."""
    flat = make_reference(datamodels.FlatModel, "FLAT", data=np.ones((4, 4), np.float32))
    flat.meta.instrument.filter, flat.meta.useafter = "Ks", "2021-01-01T00:00:00"
    del flat.meta.bunit_data
    if unit is not None:
        flat.meta.bunit_data = unit
    path = tmp_path / "IRIS_IMG1_FLAT_20210101T000000_1.fits"
    flat.save(path)
    before = store_snapshot(store)
    with pytest.raises(StoreError, match=re.escape(f"{path}: {problem}")):
        add_references(store, [path])
    assert store_snapshot(store) == before
