# CRDS: select every frame's references under the context (one checkpoint for all frames), then fetch
# each selected reference once into the local cache. The table keeps one name: a new context reruns the
# selection through its params, and after it only the frames whose references changed.


checkpoint crds_select:
    input:
        frames=source_files(),
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
        mem_mb=500,
    params:
        store=config["crds"]["store"],
        context=CONTEXT,
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
