# CRDS: select every frame's references under the context (one checkpoint for all frames), then fetch
# each selected reference once into the local cache. The table keeps one name: a new context reruns the
# selection through its params, and after it only the frames whose references changed. Calibration products
# made by the run (calibration.smk) enter as a new context, which reruns the selection through its input.
# Both run where snakemake runs, not as cluster jobs: they are short, and compute nodes may not reach the
# store. Memory measured with /usr/bin/time -v (2026-11-25): selecting the demo's 6 frames 491 MiB, a copy 134 MiB.


localrules:
    crds_select,
    crds_reference,


checkpoint crds_select:
    input:
        frames=source_files(),
        calibrations=calibration_context(),
    output:
        table=f"{OUTPUT}/crds/bestrefs.json",
    log:
        "logs/crds_select.log",
    benchmark:
        "benchmarks/rules/crds_select.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=800,
    params:
        store=config["crds"]["store"],
        context=selection_context if CALIBRATIONS else CONTEXT,
    script:
        "../scripts/crds_select.py"


rule crds_reference:
    output:
        f"{CRDS_CACHE}/references/ligeriri/{{reference}}",
    log:
        "logs/crds_reference/{reference}.log",
    benchmark:
        "benchmarks/rules/crds_reference/{reference}.tsv"
    wildcard_constraints:
        reference=r"[A-Za-z0-9][A-Za-z0-9_.+-]*\.fits",
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=200,
    params:
        store=config["crds"]["store"],
    script:
        "../scripts/crds_reference.py"
