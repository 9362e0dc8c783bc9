# Calibration products: the exposures of each calibration observation (config `calibrations`) become a
# reference (master dark, flat), and all of them enter the reference store as a new CRDS context, which the
# selection of the science frames' references then uses (crds.smk). The store is written where snakemake runs.


localrules:
    crds_add_calibrations,


rule master_dark:
    input:
        frame=calibration_frames,
        cfg=config["steps"]["master_dark"]["cfg"],
    output:
        f"{OUTPUT}/calibrations/dark/{{calibration}}/{{reference}}",
    log:
        "logs/master_dark/{calibration}/{reference}.log",
    benchmark:
        "benchmarks/rules/master_dark/{calibration}/{reference}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=calibration_memory,
    params:
        step="MasterDarkStep",
        parameters={},
        code=code_version("master_dark"),
    script:
        "../scripts/run_step.py"


rule master_flat:
    input:
        frame=calibration_frames,
        dark=flat_dark,
        cfg=config["steps"]["process_flatfield_l2"]["cfg"],
    output:
        f"{OUTPUT}/calibrations/flat/{{calibration}}/{{reference}}",
    log:
        "logs/master_flat/{calibration}/{reference}.log",
    benchmark:
        "benchmarks/rules/master_flat/{calibration}/{reference}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=calibration_memory,
    params:
        step="ProcessFlatfieldL2Pipeline",
        parameters=flat_parameters,
        code=code_version("dark_current", "normalize", "combine_flats", "pipeline"),
    script:
        "../scripts/run_step.py"


rule crds_add_calibrations:
    input:
        references=[master_reference(name) for name in CALIBRATIONS],
    output:
        f"{OUTPUT}/crds/calibrations.json",
    log:
        "logs/crds_add_calibrations.log",
    benchmark:
        "benchmarks/rules/crds_add_calibrations.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        store=config["crds"]["store"],
        description="calibration products of the workflow: " + ", ".join(CALIBRATIONS),
    script:
        "../scripts/crds_add_calibrations.py"
