"""The workflow's files: formatted as snakefmt wants, the jobs' conda environments and container pinned like
constraints.txt and holding only what the jobs import, and planning a night light (no crds or steps' stack
imported)."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPOSITORY = Path(__file__).resolve().parent.parent


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    result = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=REPOSITORY, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def constraint_pins():
    """{canonical name: "name==version"} of constraints.txt."""
    lines = (REPOSITORY / "constraints.txt").read_text().splitlines()
    return {canonicalize_name(line.split("==")[0]): line for line in lines if "==" in line and not line.startswith("#")}


def pinned_closure(requirements):
    """The exact pins (constraints.txt) of ``requirements`` and of everything they require, as installed here."""
    names, pending = set(), [Requirement(requirement).name for requirement in requirements]
    while pending:
        name = canonicalize_name(pending.pop())
        if name not in names:
            names.add(name)
            for requirement in map(Requirement, metadata.requires(name) or []):
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    pending.append(requirement.name)
    pins = constraint_pins()
    return {pins[name] for name in names}


def environment_pins(name):
    """The pip pins of envs/<name>, after checking its Python and pip are those of constraints.txt."""
    environment = yaml.safe_load((REPOSITORY / "envs" / name).read_text())
    (pip_section,) = [entry for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert sorted(entry for entry in environment["dependencies"] if isinstance(entry, str)) == [
        constraint_pins()["pip"].replace("==", "="), f"python={sys.version_info.major}.{sys.version_info.minor}"
    ]
    return set(pip_section["pip"])


def test_the_jobs_conda_environments_are_the_runtime_dependencies_pinned_as_constraints_txt():
    """Each rule's environment holds only what its jobs import: the steps' and CRDS jobs' the package's runtime
    dependencies (pyproject.toml's, with theirs), the quick-looks' those and matplotlib; every pin is the one of
    constraints.txt (the package itself is the one installed where Snakemake runs: docs/workflow.rst)."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    matplotlib = [entry for entry in project["optional-dependencies"]["workflow"] if entry.startswith("matplotlib")]
    steps = pinned_closure(project["dependencies"])
    assert environment_pins("steps.yaml") == steps
    assert environment_pins("quicklook.yaml") == pinned_closure(project["dependencies"] + matplotlib)
    assert not {name.split("==")[0].lower() for name in steps} & {"sphinx", "pytest", "black", "snakefmt", "snakemake"}
    assert sorted(path.name for path in (REPOSITORY / "envs").iterdir()) == ["quicklook.yaml", "steps.yaml"]
    for rules in sorted((REPOSITORY / "rules").glob("*.smk")):
        used = set(re.findall(r'^\s+"\.\./envs/(\w+\.yaml)"$', rules.read_text(), re.MULTILINE))
        assert used <= ({"quicklook.yaml"} if rules.name == "quicklook.smk" else {"steps.yaml"}), (rules.name, used)


def third_party_imports(path):
    """The top-level names of the modules ``path`` imports that are neither the standard library's nor ours."""
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.partition(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and not name.startswith("liger_iris")}


def test_what_the_jobs_import_is_in_their_environments():
    """Every module the package and the workflow's scripts import is a distribution of the environments (Snakemake's
    only where the plan runs, not in a job); matplotlib only in the quick-look code, which only the scripts of
    the quick-look rules (envs/quicklook.yaml) import."""
    distributions = metadata.packages_distributions()
    provided = {pin.split("==")[0].lower() for pin in environment_pins("quicklook.yaml")}
    importers = {}
    for path in sorted((REPOSITORY / "liger_iris_pipeline").rglob("*.py")) + sorted((REPOSITORY / "scripts").glob("*.py")):
        for name in third_party_imports(path):
            importers.setdefault(name, set()).add(str(path.relative_to(REPOSITORY)))
    for planning_only in ("snakemake", "git"):  # GitPython: Snakemake's, for a workflow read from a git host
        assert importers.pop(planning_only) == {"liger_iris_pipeline/workflow/files.py"}
    for name, paths in importers.items():
        assert {distribution.lower() for distribution in distributions[name]} <= provided, (name, paths)
    assert {path.rpartition("/")[0] for path in importers["matplotlib"]} == {"liger_iris_pipeline/quicklook"}
    quicklook_users = {
        path.name
        for path in (REPOSITORY / "scripts").glob("*.py")
        if "liger_iris_pipeline.quicklook" in path.read_text()
    }
    assert quicklook_users == {"quicklook.py", "night_summary.py", "benchmark_table.py"}
    quicklook_rules = (REPOSITORY / "rules" / "quicklook.smk").read_text()
    assert all(f'"../scripts/{script}"' in quicklook_rules for script in quicklook_users)


def test_the_snakefile_makes_full_collections_rare_and_freezes_at_exit():
    """workflow.garbage_collection (called by the Snakefile): third threshold raised, young ones kept, gc.freeze run at exit."""
    script = (
        "import atexit, gc\n"
        "from liger_iris_pipeline.workflow.garbage_collection import FULL_COLLECTION_EVERY, tune_garbage_collection\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0))  # exit hooks run last first\n"
        "young, middle, _ = gc.get_threshold()\n"
        "tune_garbage_collection(); tune_garbage_collection()\n"
        "assert gc.get_threshold() == (young, middle, FULL_COLLECTION_EVERY), gc.get_threshold()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_planning_imports_no_crds_stpipe_or_stdatamodels(tmp_path):
    """What the Snakefile and its rules import from the package, and the store's operational context they read
    for the selection, need none of the steps' stack: every snakemake start pays for what its plan imports (the
    steps' parameter check, which needs stpipe, runs only when the parameters change)."""
    imports = [
        line
        for path in (REPOSITORY / "Snakefile", *sorted((REPOSITORY / "rules").glob("*.smk")))
        for line in path.read_text().splitlines()
        if line.startswith(("from liger_iris_pipeline", "import liger_iris_pipeline"))
    ]
    assert len(imports) >= 10, imports  # the import lines of the Snakefile and of rules/common.smk at least
    config = tmp_path / "store" / "config" / "ligeriri" / "server_config"
    config.parent.mkdir(parents=True)
    metadata = {"ligeriri_0002.pmap": {"size": 1, "sha1sum": "0" * 40}}
    config.write_text(
        repr({"observatory": "ligeriri", "operational_context": "ligeriri_0002.pmap", "download_metadata": metadata})
    )
    script = "\n".join(
        [
            "import sys",
            *imports,
            f"print(store_context({str(tmp_path / 'store')!r}))",
            "print(sorted({name.split('.')[0] for name in sys.modules} & {'crds', 'stpipe', 'stdatamodels'}))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["ligeriri_0002.pmap", "[]"]


def definition_sections(path):
    """{section: [lines]} of an Apptainer definition file, the header's keywords under "header"."""
    sections, current = {"header": []}, "header"
    for line in path.read_text().splitlines():
        if line.startswith("%"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip() and not line.startswith("#"):
            sections[current].append(line.strip())
    return sections


def test_the_container_definitions_build_the_jobs_stack_from_the_constraints():
    """containers/liger_iris_drs.def (Apptainer) and containers/Dockerfile: the same Python as the environments,
    the package's files copied in, containers/install.sh installing the package and matplotlib (the quick-look
    environment's requirements) at the pins of constraints.txt; the workflow runs every job in the image the
    config names under --software-deployment-method apptainer, and the catalog says so."""
    containers = REPOSITORY / "containers"
    sections = definition_sections(containers / "liger_iris_drs.def")
    header = dict(line.split(":", 1) for line in sections["header"])
    image = header["From"].strip()
    assert header["Bootstrap"].strip() == "docker" and image.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}.")
    copied = {line.split()[0] for line in sections["files"]}
    assert all(line.split()[1] == f"/opt/liger_iris_pipeline/{line.split()[0]}" for line in sections["files"])
    assert sections["post"] == ["sh /opt/liger_iris_pipeline/containers/install.sh", "rm -rf /opt/liger_iris_pipeline"]
    dockerfile = [line for line in (containers / "Dockerfile").read_text().splitlines() if line and not line.startswith("#")]
    assert dockerfile[0] == f"FROM {image}"
    docker_copied = {name for line in dockerfile if line.startswith("COPY ") for name in line.split()[1:-1]}
    assert docker_copied == copied and f"RUN {sections['post'][0]} && {sections['post'][1]}" in dockerfile
    ignore = (containers / "Dockerfile.dockerignore").read_text().splitlines()
    assert {line[1:].rstrip("/") for line in ignore if line.startswith("!")} == copied
    for name in copied:
        assert (REPOSITORY / name).exists(), name
    assert {"pyproject.toml", "constraints.txt", "liger_iris_pipeline", "containers/install.sh"} <= copied
    install = (containers / "install.sh").read_text()
    assert subprocess.run(["sh", "-n", containers / "install.sh"]).returncode == 0
    assert "--constraint constraints.txt" in install and "python -m pip check" in install
    assert "$pip_install --no-build-isolation . matplotlib\n" in install  # the package and the quick-looks' matplotlib
    schema = yaml.safe_load((REPOSITORY / "config" / "config.schema.yaml").read_text())
    default = schema["properties"]["container"]["default"]
    assert f"apptainer build {default} containers/liger_iris_drs.def" in (containers / "liger_iris_drs.def").read_text()
    assert re.search(r'^container: config\["container"\]$', (REPOSITORY / "rules" / "common.smk").read_text(), re.MULTILINE)
    catalog = yaml.safe_load((REPOSITORY / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"] == {"conda": True, "apptainer": True}
