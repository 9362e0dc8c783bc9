# CRDS: select every frame's references under the context (one checkpoint for all frames), then fetch each
# selected reference once into the local CRDS cache. The selection runs again when a frame, the calibration
# products or the context change (liger_iris_pipeline/workflow/selection.py), and after it only the frames whose
# references changed are reduced again. Both run where snakemake runs, not as cluster jobs: they are short, and
# compute nodes may not reach the store. Memory measured with /usr/bin/time -v (2026-11-25): selecting the demo's
# 6 frames 491 MiB, a copy 134 MiB.
import json

from liger_iris_pipeline.reference_store.layout import NAME_RULES
from liger_iris_pipeline.workflow.not_applicable import frame_uses


localrules:
    crds_select,
    crds_reference,


checkpoint crds_select:
    input:
        frames=NIGHT.source_files(),
        context=SELECTION_MARKER,
        calibrations=[f"{OUTPUT}/crds/calibrations.json"] if NIGHT.calibrations else [],
    output:
        table=SELECTION_TABLE,
    log:
        f"{OUTPUT}/logs/crds_select.log",
    benchmark:
        f"{OUTPUT}/benchmarks/crds_select.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=800,
    params:
        store=config["crds"]["store"],
        # The configured context, or None: the store's operational context when the job runs.
        context=config["crds"]["context"],
        code=script_code("crds_select.py"),
        # Each frame's observation and the reference types its reduction asks for: the job says which steps
        # a reference that does not apply (N/A) will skip.
        frames=frame_uses(NIGHT),
    script:
        "../scripts/crds_select.py"


rule crds_reference:
    output:
        f"{CRDS_CACHE}/references/ligeriri/{{reference}}",
    log:
        f"{OUTPUT}/logs/crds_reference/{{reference}}.log",
    benchmark:
        f"{OUTPUT}/benchmarks/crds_reference/{{reference}}.tsv"
    wildcard_constraints:
        reference=NAME_RULES[".fits"].pattern,
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=200,
    params:
        store=config["crds"]["store"],
    script:
        "../scripts/crds_reference.py"


_BESTREFS = {}


def bestrefs():
    """The selection table of the crds_select checkpoint (read once per table version)."""
    table = checkpoints.crds_select.get().output.table
    key = (table, os.stat(table).st_mtime_ns)
    if key not in _BESTREFS:
        _BESTREFS.clear()
        _BESTREFS[key] = json.loads(Path(table).read_text())["bestrefs"]
    return _BESTREFS[key]


def selected_references(*reftypes):
    """Input function: the cached references of ``reftypes`` CRDS selected for the job's exposure (none where
    N/A)."""

    def references(wildcards):
        source = NIGHT.source_file(wildcards.observation, wildcards.exposure)
        names = [bestrefs()[source][reftype] for reftype in reftypes]
        return [
            f"{CRDS_CACHE}/references/ligeriri/{name}"
            for name in names
            if name != "N/A"
        ]

    return references


def after_selection(wildcards):
    """Input function of rules with no reference: ties them to the selection without adding inputs (without it
    they keep a stale "updated by another job" reason and rerun on every selection)."""
    bestrefs()
    return []
