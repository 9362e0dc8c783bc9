# One rule per kind of step job, declared from the specs that calibration.smk and calibrate.smk add to STEP_RULES:
# each runs a step or pipeline of the package (scripts/run_step.py) on its inputs with its .cfg and the config's
# parameters, logs and benchmarks under the night's output directory, and reruns when the code it runs changes.

for spec in STEP_RULES:

    rule:
        name:
            spec["name"]
        input:
            **spec["input"],
            cfg=step_cfg(spec["step"]),
        output:
            spec["output"],
        log:
            spec["log"],
        benchmark:
            spec["benchmark"]
        group:
            spec.get("group")
        conda:
            "../envs/drs.yaml"
        threads: spec.get("threads", 1)
        resources:
            **spec["resources"],
        params:
            step=BY_ALIAS[spec["step"]].class_name,
            parameters=spec["parameters"],
            batch=spec.get("batch"),
            code=step_code(spec["step"]),
        script:
            "../scripts/run_step.py"
