# The calibration chain of every frame: [ramp -detector1->] raw [-background->] -> dq_init -> dark_current ->
# flat_field -> assign_wcs (L2b, _cal), and merge_subarrays (_merged). With `fused_chain: true`, the four steps
# run in one job per frame (process_imager_l2), or per batch of `frames_per_job` frames. Only the rule of the
# configured mode makes _cal products (a rule that could make them too would cost Snakemake a candidate job per
# frame); dq_init, dark_current and flat_field stay available for their intermediate products in every mode.
# Every job runs one step (or pipeline) of the package through scripts/run_step.py: the rules below are declared
# from the specs of rules/specs.smk, those of master_dark and master_flat (calibration.smk) included. Every rule downstream of the reference selection (a checkpoint) asks for
# its table, those that use no reference with ``after_selection``: a rule that does not would be scheduled
# before the selection has run, from the upper-bound plan (a sky subtraction rebuilding its temporary product
# would force the frame's whole chain), or keep a stale reason and rerun. On a cluster, profiles/slurm puts them in group "frame": an exposure's
# chain (with its subarray frames and their merge) is one cluster job, not one per step.
STEP_RULES.extend(chain_rules())


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
            "../envs/steps.yaml"
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
