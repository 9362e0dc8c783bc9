"""The Snakemake workflow on small simulated frames: the plan, the run, faults and interruptions, the report, subarrays
and the fused modes. What reruns after each kind of change: tests/test_workflow_night.py."""

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from chromium import Chromium, find_chromium
from commands import clean_environment, command
from ds9 import read_circles
from frames import make_reference
from held_job import held_run
from workflow_copy import copy_workflow, read_config, write_config
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SNAKEMAKE = command("snakemake")
STEPS = ("dq_init", "dark_current", "flat_field", "assign_wcs")
IRIS = ("2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001", "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0002")
LIGER = ("2027A-P001-002_Liger_IMG_SCI_LVL1_0001",)


def snakemake(workdir, *args, check=True):
    result = subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, env=clean_environment()
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


class Plan(set):
    """The set of planned jobs, which shows the dry run's reasons when a comparison fails."""

    def __init__(self, jobs, output):
        super().__init__(jobs)
        self.output = output

    def __repr__(self):
        return f"{sorted(self)}\n--- dry run ---\n{self.output[-6000:]}"


def planned_jobs(workdir, *args):
    """{(rule, observation/exposure or ''), ...} of the jobs a dry run would execute."""
    return jobs_in(snakemake(workdir, "--dry-run", *args).stdout)


def executed_jobs(workdir, *args):
    """The jobs a real run executed: after a checkpoint reruns, only what its new output changes runs."""
    return jobs_in(snakemake(workdir, *args).stderr)


def jobs_in(output, every_wildcard=False):
    """{(rule, target), ...} of the jobs listed in snakemake's output; the target is observation/exposure, or with
    ``every_wildcard`` the values of all the job's wildcards joined by / (quick-looks: .../cal or .../merged)."""
    jobs, rule, target = set(), None, ""
    for line in output.splitlines() + ["rule end:"]:
        started = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):", line)
        if started:
            if rule:
                jobs.add((rule, target))
            rule, target = started.group(1), ""
        wildcards = re.match(r"^\s+wildcards: (.*)$", line)
        if wildcards and rule:
            values = dict(pair.split("=", 1) for pair in wildcards.group(1).split(", "))
            names = list(values) if every_wildcard else [name for name in ("observation", "exposure") if name in values]
            target = "/".join(values[name] for name in names)
    return Plan(jobs, output)


def chain(steps, observation, exposures):
    return {(step, f"{observation}/{exposure}") for step in steps for exposure in exposures}


def looks(observation, exposures):
    """The quick-look jobs of these frames and the jobs that gather every frame's (rerun when one changes)."""
    return chain(("quicklook",), observation, exposures) | {("night_summary", ""), ("benchmark_table", "")}


def frame_products(stem):
    """The L2b product ``<stem>.fits`` and the quick-look files beside it, in sorted order."""
    return [f"{stem}.fits", f"{stem}_qa.ecsv", f"{stem}_quicklook.png", f"{stem}_stars.ecsv", f"{stem}_stars.reg"]


def assert_stars_are_the_counted_ones(stem):
    """The quick-look's stars of the frame ``<stem>.fits``: as many as its QA row counts, each with its circle."""
    (row,) = Table.read(f"{stem}_qa.ecsv", format="ascii.ecsv")
    stars = Table.read(f"{stem}_stars.ecsv", format="ascii.ecsv")
    system, circles = read_circles(f"{stem}_stars.reg")
    assert len(stars) == len(circles) == row["n_stars"] > 0 and system == "icrs"
    np.testing.assert_array_equal(circles[:, 3], stars["id"])
    assert stars.meta["frame"] == f"{Path(stem).name}.fits"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Two IRIS frames and one Liger frame (64x64) and a store holding their references (context 1)."""
    root = tmp_path_factory.mktemp("simulated")
    iris = simulate_observation(root / "raw" / "iris", instrument="IRIS", size=64, n_exposures=2, seed=1)
    liger = simulate_observation(
        root / "raw" / "liger", instrument="LIGER", size=64, seed=2, observation="002", pointing=(210.8, 54.35)
    )
    add_references(root / "store", [iris.mask, iris.dark, iris.flat, liger.mask, liger.dark, liger.flat])
    return root


@pytest.fixture
def workdir(simulated, tmp_path):
    """A copy of the workflow with a config for the simulated frames, in a fresh directory."""
    shutil.copytree(simulated / "raw", tmp_path / "raw")
    shutil.copytree(simulated / "store", tmp_path / "store")
    copy_workflow(
        tmp_path,
        [
            {"name": "iris_field", "instrument": "IRIS", "raw": ["raw/iris/*_LVL1_[0-9][0-9][0-9][0-9].fits"]},
            {"name": "liger_field", "instrument": "LIGER", "raw": ["raw/liger/*_LVL1_0001.fits"]},
        ],
    )
    return tmp_path


def test_dry_run_lists_every_job(workdir):
    jobs = planned_jobs(workdir)
    expected = {("crds_select", ""), ("all", "")}
    expected |= chain(STEPS, "iris_field", IRIS) | chain(STEPS, "liger_field", LIGER)
    expected |= looks("iris_field", IRIS) | looks("liger_field", LIGER)
    assert jobs == expected


def test_full_run_then_nothing_to_do(workdir):
    snakemake(workdir)
    for observation, exposures in (("iris_field", IRIS), ("liger_field", LIGER)):
        for exposure in exposures:
            header = fits.getheader(workdir / "results" / observation / f"{exposure}_cal.fits")
            assert [header[key] for key in ("S_DQINIT", "S_DARK", "S_FLAT", "S_WCS")] == ["COMPLETE"] * 4
            assert header["CRDS_CTX"] == "ligeriri_0001.pmap"
            instrument = "IRIS_IMG1" if observation == "iris_field" else "Liger_IMG"
            assert header["R_FLAT"] == f"{instrument}_FLAT_20200101T000000_1.fits"
            assert_stars_are_the_counted_ones(workdir / "results" / observation / f"{exposure}_cal")
    # Intermediate products are temporary.
    assert sorted(path.name for path in (workdir / "results" / "liger_field").iterdir()) == frame_products(
        f"{LIGER[0]}_cal"
    )
    assert planned_jobs(workdir) == set()
    assert (workdir / "results" / "logs" / "flat_field" / "iris_field" / f"{IRIS[0]}.log").read_text()
    assert (workdir / "results" / "benchmarks" / "flat_field" / "iris_field" / f"{IRIS[0]}.tsv").exists()


def test_bad_config_fails_before_any_job(workdir):
    config = read_config(workdir)
    config["observations"][0]["exposure_time"] = 10
    write_config(workdir, config)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert "Additional properties are not allowed ('exposure_time' was unexpected)" in result.stdout + result.stderr
    config["observations"][0].pop("exposure_time")
    config["observations"][0]["raw"] = ["raw/iris/nothing_*.fits"]
    write_config(workdir, config)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert "observation iris_field: no raw file matches raw/iris/nothing_*.fits" in result.stdout + result.stderr


def test_a_steps_parameter_file_may_be_asdf(workdir):
    """config ``steps.<step>.cfg`` may name an ASDF parameter file: checked before any job like a .cfg, and the
    step's jobs run with its parameters (each product records them in its HISTORY)."""
    parameters = workdir / "dq_init.asdf"
    tree = {"class": "liger_iris_pipeline.DQInitStep", "name": "dq_init", "parameters": {"allow_reference_mismatch": True}}
    asdf.AsdfFile({**tree, "parameters": {"allow_reference_mismatchh": True}}).write_to(parameters)
    config = read_config(workdir)
    config.update(steps={"dq_init": {"cfg": "dq_init.asdf"}}, keep_intermediate=True)
    write_config(workdir, config)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert "error: dq_init.asdf: Extra value 'allow_reference_mismatchh' in root" in result.stderr, result.stderr[-3000:]

    asdf.AsdfFile(tree).write_to(parameters)
    snakemake(workdir, f"results/iris_field/{IRIS[0]}_dqinit.fits")
    with datamodels.open(workdir / "results" / "iris_field" / f"{IRIS[0]}_dqinit.fits") as product:
        assert product.meta.cal_step.dq_init == "COMPLETE"
        history = "".join(entry["description"] for entry in product._asdf.tree["history"]["entries"])
    assert 'dq_init COMPLETE: DQInitStep parameters {"allow_reference_mismatch": true,' in history


def test_failing_step_leaves_no_output_and_a_clear_log(workdir):
    wrong = workdir / "wrong_flat.fits"
    make_reference(datamodels.FlatModel, "FLAT", instrument="LIGER", data=np.ones((8, 8), np.float32)).save(wrong)
    config = read_config(workdir)
    config["observations"][1]["steps"] = {"flat_field": {"override_flat": str(wrong)}}
    write_config(workdir, config)
    result = snakemake(workdir, "--keep-going", check=False)
    assert result.returncode != 0
    assert not (workdir / "results" / "liger_field" / f"{LIGER[0]}_flat.fits").exists()
    assert not (workdir / "results" / "liger_field" / f"{LIGER[0]}_cal.fits").exists()
    assert not list((workdir / "results" / "liger_field").glob(".*part*"))
    log = (workdir / "results" / "logs" / "flat_field" / "liger_field" / f"{LIGER[0]}.log").read_text()
    assert "error: wrong_flat.fits: reference shape (8, 8) does not match" in log
    for exposure in IRIS:  # the other frames are done
        assert (workdir / "results" / "iris_field" / f"{exposure}_cal.fits").exists()


def test_resume_after_a_job_is_killed(workdir):
    with held_run(workdir) as run:
        os.kill(run.job_pid, signal.SIGKILL)
        status, printed = run.wait()
    assert status != 0, printed
    for product in (workdir / "results").glob("*/*.fits"):  # whatever has its final name is whole
        datamodels.open(product).close()
    snakemake(workdir)
    for exposure in IRIS:
        with datamodels.open(workdir / "results" / "iris_field" / f"{exposure}_cal.fits") as cal:
            assert cal.meta.cal_step.assign_wcs == "COMPLETE"
    assert planned_jobs(workdir) == set()


def test_resume_after_an_interrupted_run(workdir):
    with held_run(workdir) as run:
        os.killpg(run.process.pid, signal.SIGINT)  # Ctrl-C: to the run's process group, its job included
        status, printed = run.wait()
    assert status != 0, printed
    assert not list((workdir / "results").glob("*/*_cal.fits"))
    snakemake(workdir)
    assert len(list((workdir / "results").glob("*/*_cal.fits"))) == 3
    assert planned_jobs(workdir) == set()


def test_resume_after_snakemake_is_killed(workdir):
    """kill -9 of snakemake (and of its job, as a power cut would) leaves its locks; the next run removes them,
    since their owner is gone, and finishes the night."""
    with held_run(workdir) as run:
        os.killpg(run.process.pid, signal.SIGKILL)
        os.kill(run.job_pid, signal.SIGKILL)
        run.wait()
    assert list((workdir / ".snakemake" / "locks").glob("*.lock"))
    result = snakemake(workdir)
    assert "removed the locks of snakemake process" in result.stderr
    assert len(list((workdir / "results").glob("*/*_cal.fits"))) == 3
    assert planned_jobs(workdir) == set()


#: Shows each image result of the report as its own view button does, and lists every <img> of every view.
SHOW_EVERY_IMAGE = """(async () => {
    const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
    const settled = async () => {
        for (let i = 0; i < 200 && ![...document.images].every(img => img.complete); i++) await sleep(50);
        await sleep(50);
    };
    while (document.readyState !== "complete" || typeof app === "undefined") await sleep(50);
    const views = [];
    const record = (view, shown) => views.push({view, shown, images: [...document.images].map(
        img => ({src: img.src.slice(0, 30), width: img.naturalWidth, height: img.naturalHeight}))});
    await settled();
    record("start", null);
    for (const [path, entry] of Object.entries(results)) {
        if (!entry.mime_type.startsWith("image/")) continue;
        app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
        await sleep(100);
        await settled();
        record(path, [...document.images].filter(img => img.src === entry.data_uri).length);
    }
    return views;
})()"""


def chromium_or_skip():
    """Chromium's path; without one, skip (fail where REQUIRE_CHROMIUM is set, as .ci/run does)."""
    executable = find_chromium()
    if executable is None:
        message = "no Chromium to open the report in: apt-get install -y chromium (as root)"
        if os.environ.get("REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    return executable


def test_lint_and_report_opens_in_chromium_with_every_image(workdir):
    assert "Congratulations, your workflow is in a good condition!" in snakemake(workdir, "--lint").stderr
    snakemake(workdir)
    snakemake(workdir, "--report", "report.html")
    report = (workdir / "report.html").read_text()
    assert '"rule": "assign_wcs"' in report, report[-2000:]
    context = json.loads((workdir / "results" / "crds" / "bestrefs.json").read_text())["context"]
    assert context.startswith("ligeriri_") and "under context" in report and context in report  # named, not "the store's"
    embedded = {f"results/{observation}/{exposure}_cal_{kind}" for observation, exposures in
                (("iris_field", IRIS), ("liger_field", LIGER)) for exposure in exposures
                for kind in ("quicklook.png", "stars.ecsv", "stars.reg")}
    embedded |= {f"results/{name}" for name in ("night_summary.png", "night_summary.html", "benchmarks.html")}
    for path in embedded:
        assert f'"{path}": {{' in report, path
    assert "Stars the quick-look detected on this L2b frame" in report  # the stars' caption
    # The same report with one quick-look's PNG data cut short: the check must see that image broken.
    quicklook = sorted(path for path in embedded if path.endswith("_quicklook.png"))[0]
    start = report.index("base64,", report.index(f'"{quicklook}": {{')) + len("base64,")
    (workdir / "broken.html").write_text(report[:start] + report[start + 400 :])
    with Chromium(chromium_or_skip()) as browser:
        views = browser.evaluate((workdir / "report.html").as_uri(), SHOW_EVERY_IMAGE)
        broken_views = browser.evaluate((workdir / "broken.html").as_uri(), SHOW_EVERY_IMAGE)
    shown = {view["view"] for view in views if view["shown"]}
    assert shown == {path for path in embedded if path.endswith(".png")}, views
    assert all(image["width"] > 0 and image["height"] > 0 for view in views for image in view["images"]), views
    assert [view["view"] for view in broken_views if any(image["width"] == 0 for image in view["images"])] == [
        quicklook
    ], broken_views


def test_subarray_frames_are_reduced_and_merged_into_their_full_frame(tmp_path):
    windows = (("W1", 1, 1, 16, 16), ("W2", 49, 41, 16, 24))
    simulated = simulate_observation(tmp_path / "raw", instrument="IRIS", size=64, seed=3, subarrays=windows)
    add_references(tmp_path / "store", [simulated.mask, simulated.dark, simulated.flat])
    observation = {
        "name": "field",
        "instrument": "IRIS",
        "raw": ["raw/*_SCI_LVL1_0001.fits"],
        "subarrays": ["raw/*_W?_LVL1_0001.fits"],
        "merge_subarrays": True,
    }
    copy_workflow(tmp_path, [observation])
    snakemake(tmp_path)

    exposure = simulated.raw[0].name.removesuffix(".fits")
    results = tmp_path / "results" / "field"
    assert sorted(path.name for path in results.iterdir()) == sorted(
        frame_products(f"{exposure}_cal")
        + frame_products(f"{exposure}_merged")
        + [name for path in simulated.subarrays[0] for name in frame_products(f"{path.name.removesuffix('.fits')}_cal")]
    )
    subarray_bit = datamodels.dqflags.pixel["SUBARRAY"]
    with datamodels.open(results / f"{exposure}_cal.fits") as full, datamodels.open(results / f"{exposure}_merged.fits") as merged:
        assert merged.meta.cal_step.merge_subarrays == "COMPLETE"
        # The windows were read with the full frame's pixels, so their reduction is the full frame's.
        np.testing.assert_array_equal(merged.data, full.data)
        in_window = full.subarr_map > 0
        assert np.all(merged.dq[in_window] == full.dq[in_window] | subarray_bit)
        assert np.all(merged.dq[~in_window] == full.dq[~in_window])


def test_fused_batches_give_the_same_products_in_one_job_per_batch(workdir):
    """With frames_per_job, one job reduces several frames of an observation in one process, and one makes
    their quick-looks: the same products as the per-step rules, and nothing to do afterwards."""
    snakemake(workdir)
    config = read_config(workdir)
    config.update(fused_chain=True, frames_per_job=2, output_dir="batched")
    write_config(workdir, config)
    jobs = executed_jobs(workdir)
    batches = {
        (f"{rule}_{observation}_0001", "")
        for rule in ("process_imager_l2", "quicklook")
        for observation in ("iris_field", "liger_field")
    }
    gathering = {("night_summary", ""), ("benchmark_table", "")}
    assert jobs == {("all", ""), ("crds_select", "")} | batches | gathering
    log = (workdir / "batched" / "logs" / "process_imager_l2" / "iris_field" / "batch_0001.log").read_text()
    assert all(exposure in log for exposure in IRIS)
    for observation, exposures in (("iris_field", IRIS), ("liger_field", LIGER)):
        for exposure in exposures:
            frame = f"{observation}/{exposure}_cal.fits"
            with datamodels.open(workdir / "results" / frame) as steps, datamodels.open(workdir / "batched" / frame) as fused:
                for name in ("data", "err", "dq"):
                    np.testing.assert_array_equal(getattr(fused, name), getattr(steps, name))
                assert fused.meta.cal_step.instance == steps.meta.cal_step.instance
                assert fused.meta.ref_file.instance == steps.meta.ref_file.instance
            for kind in ("qa.ecsv", "stars.ecsv", "stars.reg"):
                written = f"{observation}/{exposure}_cal_{kind}"
                assert (workdir / "batched" / written).read_text() == (workdir / "results" / written).read_text()
            assert (workdir / "batched" / f"{observation}/{exposure}_cal_quicklook.png").stat().st_size > 0
    assert planned_jobs(workdir) == set()


def test_fused_chain_gives_the_same_products_in_one_job_per_frame(workdir):
    snakemake(workdir)
    config = read_config(workdir)
    config.update(fused_chain=True, output_dir="fused")
    write_config(workdir, config)
    jobs = executed_jobs(workdir)
    frames = {f"iris_field/{exposure}" for exposure in IRIS} | {f"liger_field/{exposure}" for exposure in LIGER}
    assert jobs == {("all", ""), ("crds_select", "")} | {("process_imager_l2", frame) for frame in frames} | looks(
        "iris_field", IRIS
    ) | looks("liger_field", LIGER)
    for frame in frames:
        with datamodels.open(workdir / "results" / f"{frame}_cal.fits") as steps, datamodels.open(
            workdir / "fused" / f"{frame}_cal.fits"
        ) as fused:
            for name in ("data", "err", "dq"):
                np.testing.assert_array_equal(getattr(fused, name), getattr(steps, name))
            assert fused.meta.cal_step.instance == steps.meta.cal_step.instance
            assert fused.meta.ref_file.instance == steps.meta.ref_file.instance
            assert fused.meta.wcsinfo.instance == steps.meta.wcsinfo.instance

    # A step's own parameter file in the config applies in the fused chain too (it was once only tracked).
    (workdir / "my_flat_field.cfg").write_text('name = "flat_field"\nclass = "liger_iris_pipeline.FlatFieldStep"\nskip = True\n')
    config["steps"] = {"flat_field": {"cfg": "my_flat_field.cfg"}}
    write_config(workdir, config)
    assert {rule for rule, _ in executed_jobs(workdir)} >= {"process_imager_l2"}
    for frame in frames:
        with datamodels.open(workdir / "fused" / f"{frame}_cal.fits") as fused:
            assert fused.meta.cal_step.flat_field == "SKIPPED"
