# CRDS: select every frame's references under the context (one checkpoint for all frames), then fetch each
# selected reference once into the local CRDS cache. The selection runs again when a frame, the calibration
# products or the context change (liger_iris_pipeline/workflow/selection.py), and after it only the frames whose
# references changed are reduced again. Both run where snakemake runs, not as cluster jobs: they are short, and
# compute nodes may not reach the store. Memory measured with /usr/bin/time -v (2026-11-25): selecting the demo's
# 6 frames 491 MiB, a copy 134 MiB.
from liger_iris_pipeline.reference_store.layout import NAME_RULES, REFERENCE
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
        "../envs/steps.yaml"
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
        reference=NAME_RULES[REFERENCE].pattern,
    conda:
        "../envs/steps.yaml"
    threads: 1
    resources:
        mem_mb=200,
    params:
        store=config["crds"]["store"],
    script:
        "../scripts/crds_reference.py"
