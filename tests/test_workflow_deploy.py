"""The workflow deployed the way its users deploy it, into a fresh directory that holds their night and nothing of
the workflow: with ``snakedeploy deploy-workflow`` from its git host (a Snakemake module
``github(<owner/repo>, path="Snakefile", tag=...)``, which Snakemake clones into its source cache), and as a
module given by path in a directory of only the user's Snakefile and config. The git host is a local repository
of this checkout's files, which git's ``url.<base>.insteadOf`` puts behind https://github.com/: no network."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import liger_iris_pipeline
from commands import BIN, clean_environment, command
from frames import file_digest
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation
from test_workflow import chain, frame_products, jobs_in, looks
from workflow_copy import REPOSITORY

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

OWNER_REPO = "liger-iris/liger_iris_pipeline"
TAG = f"v{liger_iris_pipeline.__version__}"
RAW = "raw/*_IRIS_IMG1_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"
EXPOSURE = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001"


@pytest.fixture(scope="module")
def git_host(tmp_path_factory):
    """(environment, repository): this checkout's files (tracked, and new ones not ignored) as one commit on
    branch main, tagged TAG, in ``<host>/<OWNER_REPO>``; the environment makes https://github.com/ that host and
    gives Snakemake a source cache of its own (XDG_CACHE_HOME)."""
    host = tmp_path_factory.mktemp("host")
    repository = host / OWNER_REPO
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPOSITORY, capture_output=True, text=True, check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPOSITORY / name).is_file():  # a tracked file deleted in the work tree is not part of it
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, repository / name)
    identity = ["-c", "user.name=DRS test", "-c", "user.email=drs@example.org"]
    for arguments in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", "snapshot"], ["tag", TAG]):
        subprocess.run(["git", *arguments], cwd=repository, check=True, capture_output=True)
    environment = clean_environment(
        GIT_CONFIG_COUNT=1,
        GIT_CONFIG_KEY_0=f"url.{host.as_uri()}/.insteadOf",
        GIT_CONFIG_VALUE_0="https://github.com/",
        XDG_CACHE_HOME=host / "cache",
    )
    return environment, repository


def run(directory, environment, *arguments, check=True):
    result = subprocess.run(
        [command("snakemake"), "--cores", "2", *arguments], cwd=directory, capture_output=True, text=True, env=environment
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def simulate_night(directory, config):
    """One IRIS exposure (64x64) under ``directory``/raw, its references in the store, and ``config`` (the
    template's keys) pointing at them as a user would edit it; written to config/config.yaml."""
    simulated = simulate_observation(directory / "raw", instrument="IRIS", size=64, seed=1)
    add_references(directory / "store", [simulated.mask, simulated.dark, simulated.flat])
    config["observations"] = [{"name": "my_field", "instrument": "IRIS", "raw": [RAW]}]
    (directory / "config").mkdir(exist_ok=True)
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def expected_jobs():
    return chain(("dq_init", "dark_current", "flat_field", "assign_wcs"), "my_field", [EXPOSURE]) | looks(
        "my_field", [EXPOSURE]
    ) | {("crds_select", ""), ("all", "")}


def test_snakedeploy_deploys_the_workflow_from_its_git_host_and_a_night_runs_in_the_users_directory(git_host, tmp_path):
    environment, repository = git_host
    subprocess.run(
        [command("snakedeploy"), "deploy-workflow", f"https://github.com/{OWNER_REPO}", "night", "--tag", TAG],
        cwd=tmp_path, capture_output=True, text=True, env=environment, check=True,
    )
    night = tmp_path / "night"
    snakefile = (night / "workflow" / "Snakefile").read_text()
    assert f'github("{OWNER_REPO}", path="Snakefile", tag="{TAG}")' in snakefile, snakefile
    assert "use rule * from liger_iris_pipeline" in snakefile
    assert (night / "profiles" / "default" / "config.yaml").is_file() and (night / "config" / "steps").is_dir()
    simulate_night(night, yaml.safe_load((night / "config" / "config.yaml").read_text()))
    before = {path: file_digest(path) for path in repository.rglob("*") if path.is_file() and ".git" not in path.parts}

    assert "Congratulations, your workflow is in a good condition!" in run(night, environment, "--lint").stderr
    plan = run(night, environment, "--dry-run")
    assert "Using workflow specific profile profiles/default" in plan.stderr
    assert jobs_in(plan.stdout) == expected_jobs()
    run(night, environment)

    results = night / "results" / "my_field"
    assert sorted(path.name for path in results.iterdir()) == [
        path.split("/")[-1] for path in frame_products(f"{results}/{EXPOSURE}_cal")
    ]
    # The steps ran the user's copies of the .cfg files (snakedeploy's config/), the workflow's own other files were
    # copied from Snakemake's clone into .snakemake/liger_iris/workflow/, and the clone holds only the repository.
    assert f"{night}/config/steps/dq_init.cfg" in plan.stdout
    copies = night / ".snakemake" / "liger_iris" / "workflow"
    assert (copies / "config" / "config.schema.yaml").read_bytes() == (repository / "config" / "config.schema.yaml").read_bytes()
    assert sorted(path.name for path in (copies / "scripts").iterdir()) == [
        "benchmark_table.py", "crds_select.py", "night_summary.py", "quicklook.py"
    ]
    assert not (tmp_path / "results").exists() and not (REPOSITORY / "results" / "my_field").exists()
    assert not list(Path(environment["XDG_CACHE_HOME"]).rglob("results"))
    after = {path: file_digest(path) for path in repository.rglob("*") if path.is_file() and ".git" not in path.parts}
    assert after == before
    # A new snakemake (copies compared, not rewritten; a tag's files are cached) has nothing to do.
    assert "Nothing to be done" in run(night, environment, "--dry-run").stdout


def test_the_workflow_is_a_module_by_path_in_a_directory_of_only_the_users_snakefile_and_config(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        f'module drs:\n    snakefile:\n        "{REPOSITORY}/Snakefile"\n    config:\n        config\n\n\n'
        "use rule * from drs\n"
    )
    template = yaml.safe_load((REPOSITORY / "config" / "config.yaml").read_text())
    simulate_night(tmp_path, template)
    plan = run(tmp_path, clean_environment(), "--dry-run")
    assert jobs_in(plan.stdout) == expected_jobs()
    # The steps' .cfg files are the workflow's own, where it lies (the user's directory has none); nothing is
    # copied, and the plan's files (selection marker, state) are the user's.
    assert f"{REPOSITORY}/config/steps/dq_init.cfg" in plan.stdout
    assert not (tmp_path / ".snakemake" / "liger_iris" / "workflow").exists()
    assert (tmp_path / "results" / "crds" / "context.json").is_file()
    # The workflow still checks the config file its user's Snakefile read: safely, before planning.
    (tmp_path / "config" / "config.yaml").write_text("output_dir: !!python/name:os.system\n")
    refused = run(tmp_path, clean_environment(), "--dry-run", check=False)
    assert refused.returncode == 1 and "configs are read with a safe YAML loader" in refused.stderr, refused.stderr[-2000:]


def demo_commands(size):
    """The commands of the Makefile's demo that simulate the demo's night and fill its store (all but the run),
    with frames of ``size`` pixels a side (the IRIS subarray window scaled from the 4096-pixel detector)."""
    makefile = (REPOSITORY / "Makefile").read_text().replace("\\\n", " ")
    recipe = makefile.split("\ndemo: install\n", 1)[1].split("\n\n", 1)[0]
    commands = []
    for line in recipe.splitlines():
        line = line.strip().replace("$(BIN)/", f"{BIN}/").replace("$(DEMO)", "demo_output")
        if "liger-iris-simulate" in line:
            def scaled(match):
                numbers = [max(1, round(int(value) * size / 4096)) for value in match.group(2).split(",")]
                return f"--subarray {match.group(1)},{','.join(map(str, numbers))}"

            line = re.sub(r"--subarray (\w+),([\d,]+)", scaled, line) + f" --size {size}"
        if line.startswith(f"{BIN}/") and "snakemake" not in line:
            commands.append(line)
    return commands


def test_lint_and_plan_of_the_test_config_from_another_directory(tmp_path):
    """What the catalog's CI runs, on .test/config/config.yaml (the demo's night, simulated small): snakemake
    --lint and a dry run, with the workflow given by -s from another directory."""
    commands = demo_commands(size=128)
    assert len(commands) == 4 and sum("liger-iris-simulate" in line for line in commands) == 2
    for line in commands:
        subprocess.run(["bash", "-c", line], cwd=tmp_path, check=True, capture_output=True, env=clean_environment())
    arguments = ["-s", str(REPOSITORY / "Snakefile"), "--configfile", str(REPOSITORY / ".test" / "config" / "config.yaml")]
    environment = clean_environment()
    assert "Congratulations, your workflow is in a good condition!" in run(tmp_path, environment, *arguments, "--lint").stderr
    output = run(tmp_path, environment, *arguments, "--dry-run").stdout
    assert f"{REPOSITORY}/config/steps/dark_current.cfg" in output  # the workflow's own: none in the working directory
    plan = jobs_in(output)
    assert {rule for rule, _ in plan} >= {"master_dark", "master_flat", "crds_add_calibrations", "background",
                                          "merge_subarrays", "image3_liger_field", "assign_wcs", "night_summary"}, plan
    assert not list(tmp_path.glob("config")) and (tmp_path / "demo_output" / "results" / "crds" / "context.json").is_file()


def test_a_git_workflows_files_are_copied_exactly_and_rewritten_only_when_they_change(tmp_path):
    """WorkflowFiles on a workflow read from git: each file's copy has its exact bytes (Snakemake's own reading,
    git show, drops the last newline, which would change a script's code version) and keeps its time stamp
    until its content changes."""
    from snakemake.sourcecache import LocalGitFile

    from liger_iris_pipeline.workflow.files import WorkflowFiles

    repository = tmp_path / "workflow"
    (repository / "scripts").mkdir(parents=True)
    script = repository / "scripts" / "job.py"
    identity = ["-c", "user.name=DRS test", "-c", "user.email=drs@example.org"]

    def commit(text):
        script.write_text(text)
        for arguments in (["add", "-A"], [*identity, "commit", "-q", "-m", "edit"]):
            subprocess.run(["git", *arguments], cwd=repository, check=True, capture_output=True)

    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repository, check=True)
    commit("print('job')\n\n")
    copies = tmp_path / "copies"
    copy = Path(WorkflowFiles(LocalGitFile(str(repository), "", ref="main"), None, copies).path("scripts/job.py"))
    assert copy == copies / "scripts" / "job.py" and copy.read_text() == "print('job')\n\n"
    stamp = copy.stat().st_mtime_ns
    assert WorkflowFiles(LocalGitFile(str(repository), "", ref="main"), None, copies).path("scripts/job.py") == str(copy)
    assert copy.stat().st_mtime_ns == stamp
    commit("print('edited job')\n")
    WorkflowFiles(LocalGitFile(str(repository), "", ref="main"), None, copies).path("scripts/job.py")
    assert copy.read_text() == "print('edited job')\n"
