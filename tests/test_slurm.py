"""The workflow on a real SLURM cluster (.ci/slurm/start.sh, single node on 127.0.0.1) through
`snakemake --profile profiles/slurm`: one cluster job per exposure, the products of a local run, and a job that
fails once is retried."""

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from commands import clean_environment, command
from workflow_copy import REPOSITORY, copy_workflow
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

CLUSTER = REPOSITORY / ".ci" / "slurm"
FAIL_ONCE = Path(__file__).resolve().parent / "fail_once"
WINDOW = ("GUIDE", 33, 33, 32, 32)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """An IRIS exposure (96x96) with a GUIDE subarray, a Liger exposure (64x64), and a store of their references."""
    root = tmp_path_factory.mktemp("simulated")
    iris = simulate_observation(root / "raw" / "iris", instrument="IRIS", size=96, seed=1, subarrays=[WINDOW])
    liger = simulate_observation(
        root / "raw" / "liger", instrument="LIGER", size=64, seed=2, observation="002", pointing=(210.8, 54.35)
    )
    add_references(root / "store", [iris.mask, iris.dark, iris.flat, liger.mask, liger.dark, liger.flat])
    return root


def workflow_copy(simulated, directory, **settings):
    """The workflow in ``directory`` with a config for the simulated frames (merging the IRIS subarrays)."""
    observations = [
        {
            "name": "iris_field",
            "instrument": "IRIS",
            "raw": [str(simulated / "raw" / "iris" / "*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits")],
            "subarrays": [str(simulated / "raw" / "iris" / "*_GUIDE_LVL1_[0-9][0-9][0-9][0-9].fits")],
            "merge_subarrays": True,
        },
        {"name": "liger_field", "instrument": "LIGER", "raw": [str(simulated / "raw" / "liger" / "*_LVL1_0001.fits")]},
    ]
    crds = {"store": str(simulated / "store"), "context": None, "cache": "crds_cache"}
    copy_workflow(directory, observations, **{"crds": crds, **settings})
    return directory


def snakemake(workdir, *args, **environment):
    result = subprocess.run(
        [command("snakemake"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=clean_environment(**environment),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    return result


def cluster_is_up():
    try:
        return "UP" in subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20).stdout
    except FileNotFoundError:  # SLURM not installed yet
        return False


@pytest.fixture(scope="module")
def cluster():
    """The single-node cluster of .ci/slurm/start.sh (it installs the Debian packages if needed), stopped
    afterwards unless it was already running."""
    if os.geteuid() != 0:
        pytest.skip("starting the SLURM cluster needs root (.ci/slurm/start.sh)")
    already_up = cluster_is_up()
    started = subprocess.run([CLUSTER / "start.sh"], capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    yield
    if not already_up:
        stopped = subprocess.run([CLUSTER / "stop.sh"], capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def exposures(simulated, instrument):
    return sorted(path.name.removesuffix(".fits") for path in (simulated / "raw" / instrument).glob("*_LVL1_000?.fits"))


def group_jobs(dry_run):
    """[{(rule, exposure), ...} per group job] of a dry run's plan."""
    groups = []
    for block in dry_run.split("Group job ")[1:]:
        jobs = re.findall(r"rule (\w+):.*?wildcards: observation=\w+, exposure=(\S+)\n", block, flags=re.S)
        groups.append(set(jobs))
    return groups


@pytest.mark.parametrize("fused", [False, True])
def test_each_exposure_is_one_group_job(simulated, tmp_path, fused):
    """On a cluster a frame's steps run as one job; an exposure with subarrays adds their chains and the merge."""
    workdir = workflow_copy(simulated, tmp_path / "workflow", fused_chain=fused)
    groups = group_jobs(snakemake(workdir, "--profile", "profiles/slurm", "--dry-run").stdout)
    chain = ("process_imager_l2",) if fused else ("dq_init", "dark_current", "flat_field", "assign_wcs")
    iris, (liger,) = exposures(simulated, "iris"), exposures(simulated, "liger")
    full = next(name for name in iris if "_SCI_" in name)
    expected = [
        {(rule, frame) for rule in chain for frame in iris} | {("merge_subarrays", full)},
        {(rule, liger) for rule in chain},
    ]
    assert sorted(groups, key=sorted) == sorted(expected, key=sorted)


def test_a_batch_of_exposures_is_one_group_job(simulated, tmp_path):
    """With frames_per_job, a cluster job reduces a batch of an observation's frames and makes their
    quick-looks, with the merge of its subarrays and the merged frame's quick-look."""
    workdir = workflow_copy(simulated, tmp_path / "workflow", fused_chain=True, frames_per_job=2)
    plan = snakemake(workdir, "--profile", "profiles/slurm", "--dry-run").stdout
    jobs = re.split(r"^\[[^\]]*\]", plan, flags=re.M)  # each job or group job starts with its [time]
    groups = [sorted(set(re.findall(r"rule (\w+):", job))) for job in jobs if job.startswith(" Group job ")]
    assert sorted(groups) == [
        ["merge_subarrays", "process_imager_l2_iris_field_0001", "quicklook", "quicklook_iris_field_0001"],
        ["process_imager_l2_liger_field_0001", "quicklook_liger_field_0001"],
    ]


def products(workdir):
    return {path.relative_to(workdir / "results"): path for path in (workdir / "results").glob("*_field/*.fits")}


def test_slurm_run_retries_a_failed_job_and_gives_the_local_products(simulated, tmp_path, cluster):
    local = workflow_copy(simulated, tmp_path / "local")
    snakemake(local, "--cores", "2")
    # The first step process of the run fails (tests/fail_once/sitecustomize.py); its job is submitted again.
    marker = tmp_path / "failed_once"
    on_slurm = workflow_copy(simulated, tmp_path / "slurm")
    result = snakemake(
        on_slurm, "--profile", "profiles/slurm", PYTHONPATH=FAIL_ONCE, LIGER_IRIS_FAIL_ONCE=marker
    )
    assert marker.read_text() == "failed"
    (run,) = set(re.findall(r"SLURM run ID: (\S+)", result.stdout + result.stderr))
    states = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", run, "--format", "State"], capture_output=True, text=True, check=True
    ).stdout.split()
    # One cluster job per exposure (IRIS with its subarray, Liger), one of them twice.
    assert sorted(states) == ["COMPLETED", "COMPLETED", "FAILED"], result.stderr[-4000:]

    expected = products(local)
    assert len(expected) == 4  # IRIS full frame, subarray and merged; Liger
    assert sorted(products(on_slurm)) == sorted(expected)
    for name, path in expected.items():
        with datamodels.open(path) as here, datamodels.open(on_slurm / "results" / name) as there:
            for array in ("data", "err", "dq"):
                np.testing.assert_array_equal(getattr(there, array), getattr(here, array))
            assert there.meta.cal_step.instance == here.meta.cal_step.instance
