# Calibration products: the exposures of each calibration observation (config `calibrations`) become a
# reference (master dark, flat), and all of them enter the reference store as a new CRDS context, which the
# selection of the science frames' references then uses (crds.smk). The store is written where snakemake runs.
# master_dark and master_flat are declared by rules/steps.smk from the specs below.
from liger_iris_pipeline.reference_names import reference_name_of_exposures


def master_reference(name):
    """Path of the reference made from the calibration observation ``name``, named by the design's convention."""
    calibration = NIGHT.calibrations[name]
    reference = reference_name_of_exposures(
        NIGHT.calibration_frames(name), calibration["type"], calibration["version"]
    )
    return f"{OUTPUT}/calibrations/{calibration['type']}/{name}/{reference}"


def flat_dark(wildcards):
    """Input function of master_flat: the master dark its flats are dark-subtracted with, if any."""
    dark = NIGHT.calibrations[wildcards.calibration].get("dark")
    return [master_reference(dark)] if dark else []


def flat_parameters(wildcards, input):
    """Params function of master_flat: the dark to subtract (its master dark, or none)."""
    dark = {"override_dark": input.dark[0]} if input.dark else {"skip": True}
    return {"steps": {"dark_current": dark}}


def calibration_memory(wildcards, input):
    """Resource function: a stack of the calibration's exposures."""
    instrument = NIGHT.calibrations[wildcards.calibration]["instrument"]
    return measured.calibration_memory(instrument, len(input.frame))


def calibration_rule(name, step, input, parameters):
    """The rule making the references of type ``name`` (master_<type>) from calibration exposures."""
    reftype = name.removeprefix("master_")
    return {
        "name": name,
        "step": step,
        "input": {"frame": calibration_frames, **input},
        "output": f"{OUTPUT}/calibrations/{reftype}/{{calibration}}/{{reference}}",
        "log": log_of(name, "calibration", "reference"),
        "benchmark": benchmark_of(name, "calibration", "reference"),
        "parameters": parameters,
        "resources": {"mem_mb": calibration_memory},
    }


STEP_RULES.extend(
    [
        calibration_rule("master_dark", "master_dark", {}, {}),
        calibration_rule(
            "master_flat", "process_flatfield_l2", {"dark": flat_dark}, flat_parameters
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
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        store=config["crds"]["store"],
        description="calibration products of the workflow: "
        + ", ".join(NIGHT.calibrations),
    script:
        "../scripts/crds_add_calibrations.py"
