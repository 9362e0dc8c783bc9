# Calibration products: the exposures of each calibration observation (config `calibrations`) become a
# reference (master dark, flat, a distortion solved from a dithered dense field), and all of them enter the reference store as a new CRDS context, which the
# selection of the science frames' references then uses (crds.smk). The store is written where snakemake runs.
# master_dark and master_flat are declared with the other step rules (rules/calibrate.smk) from their specs
# (rules/specs.smk).
STEP_RULES.extend(
    [
        calibration_rule("master_dark", "master_dark", {}, {}),
        calibration_rule(
            "master_flat", "process_flatfield_l2", {"dark": flat_dark}, flat_parameters
        ),
        calibration_rule(
            "master_distortion",
            "process_distortion_l2",
            {"dark": flat_dark, "flat": distortion_flat, "catalog": distortion_catalog},
            distortion_parameters,
        ),
    ]
)


localrules:
    crds_add_calibrations,


rule crds_add_calibrations:
    input:
        references=[master_reference(name) for name in NIGHT.calibrations],
    output:
        f"{OUTPUT}/crds/calibrations.json",
    log:
        f"{OUTPUT}/logs/crds_add_calibrations.log",
    benchmark:
        f"{OUTPUT}/benchmarks/crds_add_calibrations.tsv"
    conda:
        "../envs/steps.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        store=config["crds"]["store"],
        description="calibration products of the workflow: "
        + ", ".join(NIGHT.calibrations),
    script:
        "../scripts/crds_add_calibrations.py"
