"""``crds_fetch``: a reference store (directory or http) into a local CRDS cache, verified, usable offline."""

import ast
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import crds
import pytest
from astropy.io import fits
from crds.core import log as crds_log

from commands import assert_one_line_error as assert_fails_in_one_line
from commands import clean_environment, command
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import FetchError, add_references, fetch_references, select_references
from liger_iris_pipeline.reference_store.bestrefs import best_references
from liger_iris_pipeline.reference_store.layout import sha1
from liger_iris_pipeline.reference_store.mappings import mapping_checksum
from liger_iris_pipeline.simulator import simulate_observation

CONTEXT = "ligeriri_0001.pmap"
MAPPINGS = [
    "ligeriri_0001.pmap",
    "ligeriri_iris_0001.imap",
    "ligeriri_liger_0001.imap",
    "ligeriri_iris_dark_0001.rmap",
    "ligeriri_iris_flat_0001.rmap",
    "ligeriri_iris_mask_0001.rmap",
]
REFERENCES = {
    "dark": "IRIS_IMG1_DARK_20200101T000000_1.fits",
    "flat": "IRIS_IMG1_FLAT_20200101T000000_1.fits",
    "mask": "IRIS_IMG1_MASK_20200101T000000_1.fits",
}
FLAT_RMAP = "ligeriri_iris_flat_0001.rmap"


def crds_fetch(store, *inputs, cache=None, env=None, options=()):
    arguments = [command("crds_fetch"), "--store", str(store), *options]
    if cache is not None:
        arguments += ["--crds-path", str(cache)]
    return subprocess.run([*arguments, *map(str, inputs)], capture_output=True, text=True, env=env or clean_environment())


def assert_one_line_error(result, *fragments):
    assert_fails_in_one_line(result, "crds_fetch", *fragments)


def store_config(store):
    return ast.literal_eval((store / "config" / "ligeriri" / "server_config").read_text())


def cache_files(cache):
    """{path: (sha1, mtime)} of every file under the cache's mappings and references."""
    return {
        path: (sha1(path), path.stat().st_mtime_ns)
        for area in ("mappings", "references")
        for path in sorted((cache / area / "ligeriri").iterdir())
    }


def assert_complete_cache(cache, store):
    """The context's mappings and the selected references are in the cache, each matching the store's sha1."""
    metadata = store_config(store)["download_metadata"]
    for area, names in (("mappings", MAPPINGS), ("references", REFERENCES.values())):
        assert sorted(path.name for path in (cache / area / "ligeriri").iterdir()) == sorted(names)
        for name in names:
            assert sha1(cache / area / "ligeriri" / name) == metadata[name]["sha1sum"]
    assert store_config(cache)["operational_context"] == CONTEXT


def flip_byte(path):
    """Change one byte in the middle of ``path``."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def rewrite_store_mapping(store, name, old, new, fix_checksum=True):
    """Replace ``old`` by ``new`` in a store mapping and record its new sha1 in the store's config, as a
    store writer would; with ``fix_checksum`` the mapping's own sha1sum is updated too."""
    path = store / "mappings" / "ligeriri" / name
    text = path.read_text().replace(old, new)
    if fix_checksum:
        text = re.sub(r"'sha1sum' : '[0-9a-f]{40}'", f"'sha1sum' : '{mapping_checksum(text)}'", text)
    path.write_text(text)
    config = store_config(store)
    config["download_metadata"][name] = {"size": path.stat().st_size, "sha1sum": sha1(path)}
    (store / "config" / "ligeriri" / "server_config").write_text(repr(config))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    return simulate_observation(tmp_path_factory.mktemp("simulated"), instrument="IRIS", size=64, seed=3)


@pytest.fixture(scope="module")
def pristine_store(observation, tmp_path_factory):
    store = tmp_path_factory.mktemp("pristine") / "store"
    assert add_references(store, [observation.mask, observation.dark, observation.flat]) == CONTEXT
    return store


@pytest.fixture
def store(pristine_store, tmp_path):
    """A copy of the store that a test may damage."""
    return Path(shutil.copytree(pristine_store, tmp_path / "store"))


@pytest.fixture
def raw(observation):
    return observation.raw[0]


@pytest.fixture
def http_store(store):
    """The store served over http on 127.0.0.1 by a server thread of this process (without faults); its URL. The
    server listens from its construction on: nothing to wait for."""
    served = FaultyStore(store)
    yield served.start()
    served.stop()


@pytest.mark.science
def test_fetch_from_a_directory_fills_an_empty_cache_and_a_second_fetch_copies_nothing(store, raw, tmp_path):
    cache, table = tmp_path / "cache", tmp_path / "bestrefs.json"
    result = crds_fetch(store, raw, cache=cache, options=["--bestrefs-out", table])
    assert result.returncode == 0, result.stderr
    assert_complete_cache(cache, store)
    assert "9 copied, 0 already present" in result.stdout
    assert json.loads(table.read_text()) == {
        "context": CONTEXT,
        "bestrefs": {
            str(raw): {**dict.fromkeys(["distortion", "gain", "nonlinearity", "readnoise", "saturation"], "N/A"), **REFERENCES}
        },
    }
    before = cache_files(cache)

    again = crds_fetch(store, raw, cache=cache)
    assert again.returncode == 0, again.stderr
    assert "0 copied, 9 already present" in again.stdout
    assert cache_files(cache) == before


@pytest.mark.science
def test_fetch_from_an_http_store_into_the_cache_named_by_crds_path(http_store, store, raw, tmp_path):
    cache = tmp_path / "cache"
    result = crds_fetch(http_store, raw, env=clean_environment(CRDS_PATH=cache))
    assert result.returncode == 0, result.stderr
    assert_complete_cache(cache, store)


@pytest.mark.science
def test_the_python_function_takes_association_members_and_restores_the_crds_environment(store, raw, tmp_path):
    shutil.copy(raw, tmp_path / raw.name)
    association = tmp_path / "fetch_asn.json"
    association.write_text(
        json.dumps(
            {
                "asn_type": "image2",
                "products": [{"name": "product", "members": [{"expname": raw.name, "exptype": "science"}]}],
            }
        )
    )
    crds_settings = {key: value for key, value in os.environ.items() if key.startswith("CRDS_")}
    result = fetch_references(store, [association], tmp_path / "cache")
    assert {key: value for key, value in os.environ.items() if key.startswith("CRDS_")} == crds_settings
    assert result.context == CONTEXT
    member = str((tmp_path / raw.name).resolve())
    assert list(result.bestrefs) == [member]
    assert {reftype: name for reftype, name in result.bestrefs[member].items() if name != "N/A"} == REFERENCES
    assert sorted(result.copied) == sorted(MAPPINGS + list(REFERENCES.values()))
    assert result.present == ()
    assert_complete_cache(tmp_path / "cache", store)


@pytest.mark.parametrize(
    "area, name", [("references", REFERENCES["flat"]), ("mappings", FLAT_RMAP)], ids=["reference", "mapping"]
)
def test_a_corrupt_file_in_the_store_is_refused_and_never_takes_its_name_in_the_cache(store, raw, tmp_path, area, name):
    flip_byte(store / area / "ligeriri" / name)
    cache = tmp_path / "cache"
    assert_one_line_error(crds_fetch(store, raw, cache=cache), f"{area}/ligeriri/{name}", "sha1")
    assert not [path for path in cache.rglob("*") if name in path.name]


def test_a_corrupt_file_in_the_cache_is_reported_not_kept(store, raw, tmp_path):
    cache = tmp_path / "cache"
    assert crds_fetch(store, raw, cache=cache).returncode == 0
    cached = cache / "references" / "ligeriri" / REFERENCES["dark"]
    flip_byte(cached)
    assert_one_line_error(crds_fetch(store, raw, cache=cache), str(cached), "sha1")


def test_a_mapping_whose_embedded_sha1sum_is_wrong_is_refused(store, raw, tmp_path):
    rewrite_store_mapping(store, FLAT_RMAP, "2020-01-01 00:00:00", "2019-01-01 00:00:00", fix_checksum=False)
    cache = tmp_path / "cache"
    assert_one_line_error(crds_fetch(store, raw, cache=cache), FLAT_RMAP, "embedded sha1sum")
    assert not (cache / "mappings" / "ligeriri" / FLAT_RMAP).exists()


def test_a_reference_missing_from_the_store(store, raw, tmp_path):
    (store / "references" / "ligeriri" / REFERENCES["mask"]).unlink()
    assert_one_line_error(crds_fetch(store, raw, cache=tmp_path / "cache"), REFERENCES["mask"], "not in the store")


def test_an_unknown_context(store, raw, tmp_path):
    result = crds_fetch(store, raw, cache=tmp_path / "cache", options=["--context", "ligeriri_0099.pmap"])
    assert_one_line_error(result, str(store), "context ligeriri_0099.pmap is not in the store")


@pytest.mark.parametrize("context", ["../ligeriri_0001.pmap", "/tmp/ligeriri_0001.pmap", "ligeriri_iris_0001.imap"])
def test_a_context_that_is_not_a_pipeline_mapping_name_is_refused(store, raw, tmp_path, context):
    result = crds_fetch(store, raw, cache=tmp_path / "cache", options=["--context", context])
    assert_one_line_error(result, "refused file name", context)


def test_an_unreachable_store(raw, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(crds_fetch(url, raw, cache=tmp_path / "cache"), url, "cannot reach the store")


def test_no_cache_directory(store, raw):
    assert_one_line_error(crds_fetch(store, raw), "give --crds-path or set CRDS_PATH")


def test_a_frame_no_rule_matches_names_the_frame_and_the_reference_type(store, raw, tmp_path):
    with datamodels.open(raw) as model:
        model.meta.instrument.filter = "H"  # the store has a Ks flat only
        model.save(tmp_path / "h_band.fits")
    result = crds_fetch(store, tmp_path / "h_band.fits", cache=tmp_path / "cache")
    assert_one_line_error(result, str(tmp_path / "h_band.fits"), "no flat reference", "META.INSTRUMENT.FILTER")


@pytest.mark.parametrize("bad_name", ["../evil.fits", "/etc/passwd", "IRIS_IMG1_FLAT.txt"])
def test_a_mapping_naming_a_path_is_refused(store, raw, tmp_path, bad_name):
    rewrite_store_mapping(store, FLAT_RMAP, REFERENCES["flat"], bad_name)
    cache = tmp_path / "cache"
    assert_one_line_error(crds_fetch(store, raw, cache=cache), FLAT_RMAP, f"refused file name {bad_name!r}")
    assert not list(tmp_path.rglob("evil.fits"))
    assert not (cache / "mappings" / "ligeriri" / FLAT_RMAP).exists()


def test_an_error_crds_only_logs_is_fatal(monkeypatch):
    def recommend_and_log_an_error(*args, **kwargs):
        crds_log.error("something crds did not raise")
        return {"flat": REFERENCES["flat"]}

    monkeypatch.setattr(crds, "getrecommendations", recommend_and_log_an_error)
    with pytest.raises(FetchError, match="frame.fits: crds reported an error under .*something crds did not raise"):
        best_references({}, CONTEXT, "frame.fits")


def test_a_leftover_part_file_is_not_taken_as_complete(store, raw, tmp_path):
    references = tmp_path / "cache" / "references" / "ligeriri"
    references.mkdir(parents=True)
    stored = (store / "references" / "ligeriri" / REFERENCES["flat"]).read_bytes()
    leftover = references / f".{REFERENCES['flat']}.0123abcd.part"
    leftover.write_bytes(stored[: len(stored) // 2])  # as left by an interrupted copy
    result = crds_fetch(store, raw, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "9 copied, 0 already present" in result.stdout
    assert (
        sha1(references / REFERENCES["flat"]) == store_config(store)["download_metadata"][REFERENCES["flat"]]["sha1sum"]
    )


@pytest.mark.science
def test_the_pipeline_runs_offline_on_the_fetched_cache(store, raw, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert crds_fetch(store, raw, cache=cache).returncode == 0
    shutil.rmtree(store)  # the cache alone must do
    result = subprocess.run(
        [command("tmtrun"), "process_imager_l2", str(raw), "--output-dir", str(out)],
        capture_output=True,
        text=True,
        env=clean_environment(CRDS_PATH=cache, CRDS_MODE="local", CRDS_READONLY_CACHE=1),
    )
    assert result.returncode == 0, result.stderr
    header = fits.getheader(out / raw.name.replace(".fits", "_cal.fits"))
    assert {key: header[key] for key in ("R_MASK", "R_DARK", "R_FLAT", "CRDS_CTX")} == {
        "R_MASK": REFERENCES["mask"],
        "R_DARK": REFERENCES["dark"],
        "R_FLAT": REFERENCES["flat"],
        "CRDS_CTX": CONTEXT,
    }


def test_crds_list_status_reads_the_fetched_cache(store, raw, tmp_path):
    cache = tmp_path / "cache"
    assert crds_fetch(store, raw, cache=cache).returncode == 0
    result = subprocess.run(
        [command("crds"), "list", "--status"],
        capture_output=True,
        text=True,
        env=clean_environment(CRDS_PATH=cache, CRDS_MODE="local", CRDS_OBSERVATORY="ligeriri"),
    )
    assert result.returncode == 0, result.stderr
    assert CONTEXT in result.stdout


class _FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the store, or with the server's ``fault``: ``silent`` (accept, never answer), ``cut`` (send half
    of a reference under its full Content-Length, then the store goes away), ``oversize`` (a reference with
    more bytes than the store's download_metadata declares), ``drip`` (a reference one byte every 50 ms, each
    read answered well within any socket timeout), ``stall`` (half of a reference, then set the server's
    ``stalled`` event and send nothing more)."""

    def do_GET(self):
        fault, path = self.server.fault, Path(self.translate_path(self.path))
        if fault == "silent":
            self.server.released.wait(60)
            return
        if fault not in ("cut", "oversize", "drip", "stall") or "/references/" not in self.path or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        body = data + bytes(5000) if fault == "oversize" else data
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "drip":
            self.drip(data)
            return
        self.wfile.write(data[: len(data) // 2] if fault in ("cut", "stall") else body)
        if fault == "stall":
            self.server.stalled.set()
            self.server.released.wait(60)
        self.close_connection = True
        if fault == "cut":
            threading.Thread(target=self.server.shutdown).start()

    def drip(self, data):
        for index in range(len(data)):
            if self.server.released.wait(0.05):
                return
            try:
                self.wfile.write(data[index : index + 1])
            except OSError:  # the fetch gave up
                return

    def log_message(self, *args):
        pass


class FaultyStore:
    """The store served over http on 127.0.0.1 from a thread of the test, with a fault that can be chosen."""

    def __init__(self, directory):
        self.directory, self.port, self.server = directory, free_port(), None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, fault=None):
        self.stop()
        handler = functools.partial(_FaultyHandler, directory=str(self.directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.server.fault, self.server.released, self.server.stalled = fault, threading.Event(), threading.Event()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def stop(self):
        if self.server is not None:
            self.server.released.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def faulty_store(store):
    served = FaultyStore(store)
    yield served
    served.stop()


def reference_files(cache):
    """Names of everything in the cache's reference directory, hidden temporaries included."""
    directory = cache / "references" / "ligeriri"
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def test_a_store_that_goes_away_mid_fetch_leaves_no_partial_file_and_a_retry_completes(faulty_store, store, raw, tmp_path):
    cache = tmp_path / "cache"
    url = faulty_store.start(fault="cut")
    result = crds_fetch(url, raw, cache=cache)
    assert_one_line_error(result, f"{url}/references/ligeriri/", "copy ended after", "bytes the store declares")
    assert reference_files(cache) == []
    faulty_store.start()  # the store is back, on the same address
    retry = crds_fetch(url, raw, cache=cache)
    assert retry.returncode == 0, retry.stderr
    assert_complete_cache(cache, store)


def test_a_store_that_never_answers_fails_at_the_deadline(faulty_store, raw, tmp_path):
    url = faulty_store.start(fault="silent")
    # Well under the store's 30 s of allowed silence: only the --timeout deadline can end this fetch in time.
    result = subprocess.run(
        [command("crds_fetch"), "--store", url, "--timeout", "1", "--crds-path", str(tmp_path / "cache"), str(raw)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=300,  # a bound for the test on a loaded machine; the message tells the deadline from the silence
    )
    assert_one_line_error(result, f"{url}/config/ligeriri/server_config", "not received within its 1 s deadline")


def test_a_reference_larger_than_the_store_declares_is_refused(faulty_store, store, raw, tmp_path):
    cache = tmp_path / "cache"
    url = faulty_store.start(fault="oversize")
    result = crds_fetch(url, raw, cache=cache)
    assert_one_line_error(result, "references/ligeriri/", "larger than the store's download_metadata says")
    assert reference_files(cache) == []


def test_a_store_that_drips_a_reference_fails_at_the_deadline_and_leaves_nothing(faulty_store, raw, tmp_path):
    """Each byte comes well within any socket timeout; only a deadline for the whole file ends the copy. (The
    deadline leaves the store's small files ample time even on a loaded machine.)"""
    cache = tmp_path / "cache"
    url = faulty_store.start(fault="drip")
    result = subprocess.run(
        [command("crds_fetch"), "--store", url, "--timeout", "8", "--crds-path", str(cache), str(raw)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=400,  # the dripped reference would take an hour; 50x the deadline is the bound of the test
    )
    assert_one_line_error(result, f"{url}/references/ligeriri/", "not received within its 8 s deadline")
    assert reference_files(cache) == []


def test_a_fetch_killed_mid_copy_leaves_no_file_under_its_name_and_the_next_fetch_completes(
    faulty_store, store, raw, tmp_path
):
    cache = tmp_path / "cache"
    url = faulty_store.start(fault="stall")
    fetch = subprocess.Popen(
        [command("crds_fetch"), "--store", url, "--crds-path", str(cache), str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_environment(),
    )
    try:
        assert faulty_store.server.stalled.wait(300), "the fetch never asked for a reference"
    finally:
        fetch.kill()  # SIGKILL: no handler of the fetch runs
        fetch.wait()
    # The copy was under way (its temporary opens before the request): only the hidden temporary is left.
    (leftover,) = reference_files(cache)
    assert leftover.startswith(".") and ".part" in leftover
    faulty_store.start()
    retry = crds_fetch(url, raw, cache=cache)
    assert retry.returncode == 0, retry.stderr
    assert "3 copied" in retry.stdout.splitlines()[-1]
    assert_complete_cache(cache, store)  # every file whole and verified, the dead fetch's temporary gone


@pytest.fixture(scope="module")
def other_store(tmp_path_factory):
    """Another project's store: references under the same names as ``pristine_store``'s, other content."""
    other = simulate_observation(tmp_path_factory.mktemp("other"), instrument="IRIS", size=64, seed=4)
    store = tmp_path_factory.mktemp("other_store") / "store"
    assert add_references(store, [other.mask, other.dark, other.flat]) == CONTEXT
    return store


def sha1_in(store, name):
    return store_config(store)["download_metadata"][name]["sha1sum"]


def test_a_shared_cache_refuses_another_stores_reference_of_the_same_name(store, other_store, raw, tmp_path):
    cache = tmp_path / "cache"
    assert crds_fetch(store, raw, cache=cache).returncode == 0
    before = cache_files(cache)
    dark = REFERENCES["dark"]
    assert sha1_in(store, dark) != sha1_in(other_store, dark)
    result = crds_fetch(other_store, raw, cache=cache)
    assert_one_line_error(result, dark, sha1_in(store, dark), sha1_in(other_store, dark), "one file of each name")
    assert cache_files(cache) == before  # the first project's files untouched
    assert crds_fetch(store, raw, cache=cache).returncode == 0


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_the_selection_refuses_a_cached_reference_that_is_not_the_stores(store, other_store, raw, tmp_path, records):
    """The workflow's selection (after it, its crds_reference jobs copy only missing files) refuses a name the
    cache holds from another store: by the cache's record of it, or, where the cache lost its records, by the
    file itself."""
    cache = tmp_path / "cache"
    fetch_references(store, [raw], cache)
    dark = REFERENCES["dark"]
    if records == "kept":
        expected = f"{cache / 'config' / 'ligeriri' / 'server_config'}: the cache holds {dark} with sha1 "
        expected += f"{sha1_in(store, dark)}, the store {other_store} has it with sha1 {sha1_in(other_store, dark)}"
    else:
        (cache / "config" / "ligeriri" / "server_config").unlink()
        expected = f"{cache / 'references' / 'ligeriri' / dark}: sha1 {sha1_in(store, dark)} in the cache, the "
        expected += f"store {other_store} has sha1 {sha1_in(other_store, dark)}"
    with pytest.raises(FetchError, match=re.escape(expected)):
        select_references(other_store, [raw], cache)


def test_a_shared_cache_refuses_another_stores_mapping_of_the_same_name(store, observation, raw, tmp_path):
    other_store = tmp_path / "other_store"
    assert add_references(other_store, [observation.dark, observation.flat]) == CONTEXT  # no mask: another iris imap
    cache = tmp_path / "cache"
    assert crds_fetch(store, raw, cache=cache).returncode == 0
    before = cache_files(cache)
    imap = "ligeriri_iris_0001.imap"
    assert sha1_in(store, imap) != sha1_in(other_store, imap)
    result = crds_fetch(other_store, raw, cache=cache)
    assert_one_line_error(result, imap, sha1_in(store, imap), sha1_in(other_store, imap), "one file of each name")
    assert cache_files(cache) == before
