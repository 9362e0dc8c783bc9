"""The community's CRDS cache (GitHub oirlab/liger-iris-crds-cache) read by our plug-in and fetch: laid out by
instrument, with its reference type names, selection keywords, semver versions and stale mapping checksums. Its
mappings are stand-ins in its exact format (tests/data/community_cache/README.md says why and how they differ);
its reference files, LFS pointers there, are made here by our test helpers."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from commands import assert_one_line_error, clean_environment, command
from crds_helpers import select
from frames import SHAPE, make_frame, make_reference
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_names import reference_name
from liger_iris_pipeline.reference_store import FetchError, StoreError, add_references, fetch_references
from liger_iris_pipeline.reference_store.store import index_store
from liger_iris_pipeline.simulator import simulate_observation

STAND_IN = Path(__file__).parent / "data" / "community_cache"
CONTEXT = "ligeriri_0001.pmap"
#: The stand-in references the stand-in rmaps name (the IRIS ones; no Liger rmap exists, as in theirs):
#: {name: (model, REFTYPE, filter)}. ``liger_iris_iris_drizpars_0001.fits`` stays missing, as in theirs.
REFERENCES = {
    "IRIS_IMG1_DARK_20240924T000000_0.0.1.fits": (datamodels.DarkModel, "DARK", None),
    "IRIS_IMG1_DARK_20270601T000000_0.0.2.fits": (datamodels.DarkModel, "DARK", None),
    "IRIS_IMG1_FLAT_20240924T000000_0.0.1.fits": (datamodels.FlatModel, "FLAT", "Y"),
    "IRIS_IMG1_FLAT_20240924T000000_0.0.2.fits": (datamodels.FlatModel, "FLAT", "Ks"),
    "IRIS_IMG1_FLAT_20270501T000000_1.0.0.fits": (datamodels.FlatModel, "FLAT", "Ks"),
    "IRIS_DQ.fits": (datamodels.MaskModel, "MASK", None),
    "IRIS_IMG1_NONLINCOEFF_20240924T000000_0.0.1.fits": (datamodels.NonlinearityModel, "NONLINEARITY", None),
}
#: What the stand-in rules select for an IRIS Ks frame read in ROP mode, observed 2027-05-01 08:00, with no
#: INSTERA or PUPIL: era 0.0.0 and pupil CLEAR; their READMODE DEFAULT; the dark closest in time (ClosestTime),
#: which is after the frame; their dq as our mask and nonlincoeff as our nonlinearity; N/A for the types their
#: context has no rules of.
EXPECTED = {
    "dark": "IRIS_IMG1_DARK_20270601T000000_0.0.2.fits",
    "flat": "IRIS_IMG1_FLAT_20240924T000000_0.0.2.fits",
    "mask": "IRIS_DQ.fits",
    "nonlinearity": "IRIS_IMG1_NONLINCOEFF_20240924T000000_0.0.1.fits",
    **dict.fromkeys(["distortion", "gain", "readnoise", "saturation"], "N/A"),
}


def write_reference(path, model_class, reftype, filter_name):
    """A stand-in reference of ones (a mask of zeros) at ``path``."""
    arrays = {"dq": np.zeros(SHAPE, np.uint32)} if reftype == "MASK" else {"data": np.ones(SHAPE, np.float32)}
    if reftype == "NONLINEARITY":
        arrays = {"coeffs": np.zeros((2, *SHAPE), np.float32)}
    if reftype == "MASK":
        arrays["dq"][2, 3] = datamodels.dqflags.pixel["DEAD"] | datamodels.dqflags.pixel["DO_NOT_USE"]
    model = make_reference(model_class, reftype, **arrays)
    if filter_name:
        model.meta.instrument.filter = filter_name
    model.save(path)


def write_community_cache(root):
    """The stand-in cache at ``root``: their mappings and config, and our stand-ins of their references."""
    shutil.copytree(STAND_IN, root, ignore=shutil.ignore_patterns("README.md"))
    references = root / "references" / "ligeriri" / "iris"
    references.mkdir(parents=True)
    for name, (model_class, reftype, filter_name) in REFERENCES.items():
        write_reference(references / name, model_class, reftype, filter_name)
    return root


@pytest.fixture(scope="module")
def community_cache(tmp_path_factory):
    """The stand-in community cache, as a clone of theirs is after ``git lfs pull``."""
    return write_community_cache(tmp_path_factory.mktemp("community") / "cache")


@pytest.fixture(scope="module")
def community_store(community_cache, tmp_path_factory):
    """The community cache as a store: the same files, indexed (``crds_index_store``)."""
    store = Path(shutil.copytree(community_cache, tmp_path_factory.mktemp("store") / "store"))
    index_store(store)
    return store


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    """A simulated IRIS raw frame (Ks, ROP, full frame, 2027-05-01 08:00)."""
    return simulate_observation(tmp_path_factory.mktemp("simulated"), instrument="IRIS", size=64, seed=3).raw[0]


@pytest.mark.science
def test_a_simulated_iris_frame_fetches_the_references_their_rules_select(community_store, frame, tmp_path):
    cache = tmp_path / "cache"
    result = fetch_references(community_store, [frame], cache, context=CONTEXT, accept_stale=True)
    assert result.bestrefs == {str(frame): EXPECTED}
    # The cache is ours (flat, and says so); it holds the IRIS rules (not the Liger rmaps, which they lack) and
    # the selected references (not their drizpars reference, which they lack too: not a type of ours).
    assert (cache / "config" / "ligeriri" / "ref_cache_subdir_mode").read_text() == "flat"
    selected = sorted(name for name in EXPECTED.values() if name != "N/A")
    assert sorted(path.name for path in (cache / "references" / "ligeriri").iterdir()) == selected
    assert sorted(path.name for path in (cache / "mappings" / "ligeriri").iterdir()) == [
        "ligeriri_0001.pmap",
        "ligeriri_iris_0001.imap",
        "ligeriri_iris_dark_0001.rmap",
        "ligeriri_iris_dq_0001.rmap",
        "ligeriri_iris_drizpars_0001.rmap",
        "ligeriri_iris_flat_0001.rmap",
        "ligeriri_iris_nonlin_0001.rmap",
        "ligeriri_liger_0001.imap",
    ]
    for name in selected:
        assert (cache / "references" / "ligeriri" / name).read_bytes() == (
            community_store / "references" / "ligeriri" / "iris" / name
        ).read_bytes()
    assert len(result.stale_checksums) == 8  # every mapping it read


@pytest.mark.science
def test_a_frame_of_a_later_era_with_a_pupil_selects_by_them(community_cache):
    frame = {
        "META.INSTRUMENT.NAME": "IRIS", "META.INSTRUMENT.DETECTOR": "IMG1", "META.INSTRUMENT.FILTER": "Ks",
        "META.EXPOSURE.READMODE": "ROP", "META.SUBARRAY.NAME": "FULL", "META.OBSERVATION.DATE": "2027-05-01",
        "META.OBSERVATION.TIME": "08:00:00",
    }
    cases = [{}, {"META.INSTRUMENT.ERA": "1.0.0"}, {"META.INSTRUMENT.PUPIL": "OPAQUE"}]
    frames = [{**frame, **change} for change in cases]
    answers = select(community_cache, frames, ["flat"], context=CONTEXT, ignore_checksum=True)
    assert [answer["flat"] for answer in answers[:2]] == [
        "IRIS_IMG1_FLAT_20240924T000000_0.0.2.fits",
        "IRIS_IMG1_FLAT_20270501T000000_1.0.0.fits",
    ]
    assert answers[2]["flat"].startswith("NOT FOUND")  # no rule for that pupil


DQ_INIT = """
import sys
from liger_iris_pipeline import DQInitStep
result = DQInitStep.call(sys.argv[1])
print(result.meta.ref_file.mask.name, result.meta.cal_step.dq_init, int(result.dq[2, 3]))
"""


@pytest.mark.science
def test_their_reftype_names_are_aliases_of_ours_in_their_own_cache(community_cache, tmp_path):
    """crds (and a step) asking for our ``mask`` and ``nonlinearity`` gets their ``dq`` and ``nonlincoeff``,
    found by the plug-in in their layout (references/ligeriri/iris/)."""
    frame = {
        "META.INSTRUMENT.NAME": "IRIS", "META.INSTRUMENT.DETECTOR": "IMG1", "META.SUBARRAY.NAME": "FULL",
        "META.EXPOSURE.READMODE": "ROP", "META.OBSERVATION.DATE": "2027-05-01", "META.OBSERVATION.TIME": "08:00:00",
    }
    reftypes = ["mask", "nonlinearity", "dq", "nonlincoeff"]
    (answer,) = select(community_cache, [frame], reftypes, context=CONTEXT, ignore_checksum=True)
    assert answer == {
        "mask": "IRIS_DQ.fits",
        "dq": "IRIS_DQ.fits",
        "nonlinearity": "IRIS_IMG1_NONLINCOEFF_20240924T000000_0.0.1.fits",
        "nonlincoeff": "IRIS_IMG1_NONLINCOEFF_20240924T000000_0.0.1.fits",
    }
    raw = tmp_path / "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"
    make_frame(np.full(SHAPE, 5.0)).save(raw)
    environment = clean_environment(
        CRDS_PATH=community_cache, CRDS_MODE="local", CRDS_READONLY_CACHE=1, CRDS_CONTEXT=CONTEXT,
        CRDS_IGNORE_MAPPING_CHECKSUM=1, STPIPE_DISABLE_CRDS_STEPPARS="true",
    )
    result = subprocess.run(
        [sys.executable, "-c", DQ_INIT, str(raw)], capture_output=True, text=True, env=environment, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    dead = datamodels.dqflags.pixel["DEAD"] | datamodels.dqflags.pixel["DO_NOT_USE"]
    assert result.stdout.split()[-3:] == ["IRIS_DQ.fits", "COMPLETE", str(dead)]


def test_semver_versions_in_reference_names(tmp_path):
    import liger_iris_crds_hook

    liger_iris_crds_hook.install()
    from crds.core import utils

    locate = utils.get_locator_module("ligeriri")
    semver = reference_name("IRIS", "IMG1", "flat", "2024-09-24T00:00:00", "0.0.1")
    assert semver == "IRIS_IMG1_FLAT_20240924T000000_0.0.1.fits"
    assert reference_name("LIGER", "IMG", "dark", "2024-09-24T00:00:00", 2) == "Liger_IMG_DARK_20240924T000000_2.fits"
    for version in ("0.1", "v1", "1.2.3.4", "", True):
        with pytest.raises(ValueError, match="not an integer or a semver"):
            reference_name("IRIS", "IMG1", "flat", "2024-09-24T00:00:00", version)
    assert locate.decompose_newstyle_name("IRIS_IMG1_NONLINCOEFF_20240924T000000_0.0.1.fits")[2:5] == (
        "iris", "nonlinearity", "20240924T000000_0.0.1"
    )
    assert locate.get_file_properties("Liger_IMG_DQ_20240924T000000_1.0.0.fits") == ("liger", "mask")
    # The store writer takes a semver-named reference, and holds its name to its header as any other.
    flat = tmp_path / "IRIS_IMG1_FLAT_20240924T000000_0.0.1.fits"
    write_reference(flat, datamodels.FlatModel, "FLAT", "Ks")
    assert add_references(tmp_path / "store", [flat]) == CONTEXT
    assert (tmp_path / "store" / "references" / "ligeriri" / flat.name).exists()
    assert (tmp_path / "store" / "config" / "ligeriri" / "ref_cache_subdir_mode").read_text() == "flat"
    misnamed = tmp_path / "IRIS_IMG1_DARK_20240924T000000_0.0.1.fits"
    flat.rename(misnamed)
    with pytest.raises(StoreError, match="the name says IRIS IMG1 DARK, the header IRIS IMG1 FLAT"):
        add_references(tmp_path / "store", [misnamed])


def test_the_store_writer_refuses_a_store_laid_out_by_instrument(community_cache, tmp_path):
    store = Path(shutil.copytree(community_cache, tmp_path / "store"))
    flat = tmp_path / "IRIS_IMG1_FLAT_20240924T000000_0.0.3.fits"
    write_reference(flat, datamodels.FlatModel, "FLAT", "Ks")
    with pytest.raises(StoreError, match="laid out by instrument; crds_add_references writes flat stores"):
        add_references(store, [flat])


def crds_fetch(store, frame, cache, env):
    arguments = ["--store", str(store), "--context", CONTEXT, "--crds-path", str(cache), str(frame)]
    return subprocess.run([command("crds_fetch"), *arguments], capture_output=True, text=True, env=env)


def test_stale_mapping_checksums_are_reported_and_used_only_on_request(community_store, frame, tmp_path):
    refused = crds_fetch(community_store, frame, tmp_path / "refused", clean_environment())
    pmap = community_store / "mappings" / "ligeriri" / CONTEXT
    stale = (str(pmap), "embedded sha1sum", "is stale", "CRDS_IGNORE_MAPPING_CHECKSUM=1 uses it anyway")
    assert_one_line_error(refused, "crds_fetch", *stale)
    assert not (tmp_path / "refused" / "mappings" / "ligeriri" / CONTEXT).exists()

    used = crds_fetch(community_store, frame, tmp_path / "used", clean_environment(CRDS_IGNORE_MAPPING_CHECKSUM=1))
    assert used.returncode == 0, used.stderr
    warnings = [line for line in used.stderr.splitlines() if line.startswith("crds_fetch: warning: ")]
    assert len(warnings) == 8 and all("is stale" in line for line in warnings)
    assert any(str(pmap) in line for line in warnings)
    assert f"mask {EXPECTED['mask']}" in used.stdout


def test_their_store_as_it_is_fails_in_one_line_each_way(community_cache, frame, tmp_path):
    """What their cache needs before our fetch reads it: a download_metadata index (crds_index_store), files
    rather than LFS pointers, and a context (their server_config names an old one)."""
    fetch = {"context": CONTEXT, "accept_stale": True}
    with pytest.raises(FetchError, match="server_config: no download_metadata"):
        fetch_references(community_cache, [frame], tmp_path / "cache", **fetch)
    store = Path(shutil.copytree(community_cache, tmp_path / "store"))
    pointer = store / "references" / "ligeriri" / "iris" / EXPECTED["dark"]
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 167791680\n")
    with pytest.raises(StoreError, match=f"{pointer}: a Git LFS pointer"):
        index_store(store)
    index = subprocess.run([command("crds_index_store"), "--store", str(store)], capture_output=True, text=True)
    assert (index.returncode, index.stderr.strip()) == (
        1, f"crds_index_store: error: {pointer}: a Git LFS pointer, not the reference (git lfs pull gets the file)"
    )
    write_reference(pointer, datamodels.DarkModel, "DARK", None)
    index = subprocess.run([command("crds_index_store"), "--store", str(store)], capture_output=True, text=True)
    assert index.returncode == 0, index.stderr
    assert index.stdout.strip() == (
        "15 files indexed; its operational context 'iris_liger_0001.pmap' is not among them (give crds_fetch --context)"
    )
    with pytest.raises(FetchError, match="server_config: refused file name 'iris_liger_0001.pmap'"):
        fetch_references(store, [frame], tmp_path / "cache", accept_stale=True)
