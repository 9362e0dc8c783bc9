"""Sphinx directive ``workflow-graph``: the workflow's graph, drawn by Snakemake from a real (tiny) night.

At the first use in a build, the simulator writes a tiny night into a temporary directory, two 64x64
frames (one IRIS exposure and its GUIDE subarray, merged back into the full frame), and its references into
a reference store. The workflow of this repository, with its own config/ and a config for that night,
draws its rules (``:kind: rulegraph``, ``snakemake --rulegraph``) before the CRDS selection, which shows the
selection checkpoint; then it runs the selection and draws every job (``:kind: dag``, ``snakemake --dag``),
which shows the fetch of each selected reference. The DOT text goes to ``sphinx.ext.graphviz``, which
needs Graphviz's ``dot``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

REPOSITORY = Path(__file__).resolve().parents[2]
#: What the workflow needs from the repository; config/ is copied so the night's config can replace config.yaml.
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "envs", "profiles")
#: The subarray of the tiny IRIS exposure: (name, xstart, ystart, xsize, ysize) in 1-based detector pixels.
GUIDE_WINDOW = ("GUIDE", 17, 17, 32, 32)
SNAKEMAKE_TIMEOUT = 300  # seconds


def snakemake_environment():
    """This environment's scripts first on PATH (the workflow's scripts run with the python found there),
    and no CRDS_* settings of the caller: the workflow sets its own."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    return environment


def run_snakemake(workdir, *args):
    """Standard output of snakemake in ``workdir``; a failure raises with snakemake's own messages."""
    command = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", *args]
    result = subprocess.run(
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        env=snakemake_environment(),
        timeout=SNAKEMAKE_TIMEOUT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {workdir}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def write_tiny_night(workdir):
    """Simulate the night, store its references and write config/config.yaml for it in ``workdir``."""
    from liger_iris_pipeline.reference_store import add_references
    from liger_iris_pipeline.simulator import simulate_observation

    raw = workdir / "raw"
    iris = simulate_observation(raw / "iris", instrument="IRIS", size=64, seed=1, subarrays=[GUIDE_WINDOW])
    add_references(workdir / "store", [iris.mask, iris.dark, iris.flat])

    for name in WORKFLOW_FILES:
        (workdir / name).symlink_to(REPOSITORY / name)
    shutil.copytree(REPOSITORY / "config", workdir / "config")
    config = yaml.safe_load((REPOSITORY / ".test" / "config" / "config.yaml").read_text())
    config["output_dir"] = "results"
    config["crds"] = {"store": "store", "context": None, "cache": "crds_cache"}
    config.pop("calibrations", None)  # the demo's darks and flats are not part of the tiny night
    config["observations"] = [
        {
            "name": "iris_field",
            "instrument": "IRIS",
            "raw": ["raw/iris/*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"],
            "subarrays": [f"raw/iris/*_{GUIDE_WINDOW[0]}_LVL1_[0-9][0-9][0-9][0-9].fits"],
            "merge_subarrays": True,
        }
    ]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def draw_workflow(app):
    """{kind: DOT text} of the tiny night, computed once per build."""
    graphs = getattr(app, "_liger_iris_workflow_graphs", None)
    if graphs is None:
        with tempfile.TemporaryDirectory(prefix="liger_iris_docs_") as directory:
            workdir = Path(directory)
            write_tiny_night(workdir)
            graphs = {"rulegraph": run_snakemake(workdir, "--rulegraph")}
            run_snakemake(workdir, "results/crds/bestrefs.json")  # the checkpoint: the DAG then knows every job
            graphs["dag"] = run_snakemake(workdir, "--dag")
        app._liger_iris_workflow_graphs = graphs
    return graphs


class WorkflowGraph(SphinxDirective):
    """``.. workflow-graph::`` with ``:kind: rulegraph`` or ``dag`` and an optional ``:caption:``."""

    option_spec = {
        "kind": lambda value: directives.choice(value, ("rulegraph", "dag")),
        "caption": directives.unchanged,
    }

    def run(self):
        kind = self.options.get("kind", "rulegraph")
        for dependency in (
            "Snakefile",
            *sorted(str(path.relative_to(REPOSITORY)) for path in (REPOSITORY / "rules").glob("*.smk")),
        ):
            self.env.note_dependency(str(REPOSITORY / dependency))
        dot = draw_workflow(self.env.app)[kind]
        lines = [".. graphviz::", f"   :alt: snakemake --{kind} of the workflow"]
        if "caption" in self.options:
            lines.append(f"   :caption: {self.options['caption']}")
        lines.append("")
        lines += [f"   {line}" for line in dot.splitlines()]
        return nested_parse_to_nodes(self.state, "\n".join(lines), source=f"<snakemake --{kind}>")


def setup(app):
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("workflow-graph", WorkflowGraph)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
