# The calibration chain, one rule per step: [ramp -detector1->] raw [-> background] -> dq_init -> dark_current ->
# flat_field -> assign_wcs (L2b),
# or, with `fused_chain: true`, the same four steps in one job per frame (process_imager_l2), or per batch of
# `frames_per_job` frames. Only the rule of the configured mode makes _cal products (a rule that could make them
# too would cost Snakemake a candidate job per frame); dq_init, dark_current and flat_field stay available for
# their intermediate products in every mode.
# Resources come from measured numbers (common.smk). On a cluster, profiles/slurm puts these rules in group
# "frame": an exposure's chain (with its subarray frames and their merge) is one cluster job, not one per step.


rule background:
    input:
        frame=raw_frame,
        background=background_frames,
        cfg=config["steps"]["background"]["cfg"],
    output:
        product("background"),
    log:
        "logs/background/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/background/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("background"),
        runtime=measured_runtime("background"),
    params:
        step="BackgroundStep",
        parameters=step_rule_parameters("background"),
        code=code_version("background", "subtract_images"),
    script:
        "../scripts/run_step.py"


rule dq_init:
    input:
        frame=chain_input,
        cfg=config["steps"]["dq_init"]["cfg"],
        reference=selected_reference("dq_init"),
    output:
        product("dq_init"),
    log:
        "logs/dq_init/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/dq_init/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("dq_init"),
        runtime=measured_runtime("dq_init"),
    params:
        step="DQInitStep",
        parameters=step_rule_parameters("dq_init"),
        code=code_version("dq_init"),
    script:
        "../scripts/run_step.py"


rule dark_current:
    input:
        frame=rules.dq_init.output[0],
        cfg=config["steps"]["dark_current"]["cfg"],
        reference=selected_reference("dark_current"),
    output:
        product("dark_current"),
    log:
        "logs/dark_current/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/dark_current/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("dark_current"),
        runtime=measured_runtime("dark_current"),
    params:
        step="DarkCurrentStep",
        parameters=step_rule_parameters("dark_current"),
        code=code_version("dark_current"),
    script:
        "../scripts/run_step.py"


rule flat_field:
    input:
        frame=rules.dark_current.output[0],
        cfg=config["steps"]["flat_field"]["cfg"],
        reference=selected_reference("flat_field"),
    output:
        product("flat_field"),
    log:
        "logs/flat_field/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/flat_field/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("flat_field"),
        runtime=measured_runtime("flat_field"),
    params:
        step="FlatFieldStep",
        parameters=step_rule_parameters("flat_field"),
        code=code_version("flat_field"),
    script:
        "../scripts/run_step.py"


if not FUSED_CHAIN:

    rule assign_wcs:
        input:
            frame=rules.flat_field.output[0],
            cfg=config["steps"]["assign_wcs"]["cfg"],
            selection=after_selection,
        output:
            product("assign_wcs"),
        log:
            "logs/assign_wcs/{observation}/{exposure}.log",
        benchmark:
            "benchmarks/rules/assign_wcs/{observation}/{exposure}.tsv"
        conda:
            "../envs/drs.yaml"
        threads: 1
        resources:
            mem_mb=measured_memory("assign_wcs"),
            runtime=measured_runtime("assign_wcs"),
        params:
            step="AssignWcsStep",
            parameters=step_rule_parameters("assign_wcs"),
            code=code_version("assign_wcs"),
        script:
            "../scripts/run_step.py"


rule merge_subarrays:
    input:
        frame=merge_frames,
        cfg=config["steps"]["merge_subarrays"]["cfg"],
    output:
        f"{OUTPUT}/{{observation}}/{{exposure}}_merged.fits",
    log:
        "logs/merge_subarrays/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/merge_subarrays/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("merge_subarrays"),
        runtime=measured_runtime("merge_subarrays"),
    params:
        step="MergeSubarraysStep",
        parameters=step_rule_parameters("merge_subarrays"),
        code=code_version("subarray"),
    script:
        "../scripts/run_step.py"


if FUSED_CHAIN and not BATCHED_FRAMES:

    rule process_imager_l2:
        input:
            frame=raw_frame,
            background=fused_backgrounds,
            cfg=config["steps"]["process_imager_l2"]["cfg"],
            step_cfgs=[config["steps"][step]["cfg"] for step in STEPS],
            references=all_selected_references,
        output:
            f"{OUTPUT}/{{observation}}/{{exposure}}_cal.fits",
        log:
            "logs/process_imager_l2/{observation}/{exposure}.log",
        benchmark:
            "benchmarks/rules/process_imager_l2/{observation}/{exposure}.tsv"
        conda:
            "../envs/drs.yaml"
        threads: 1
        resources:
            mem_mb=measured_memory("process_imager_l2"),
            runtime=measured_runtime("process_imager_l2"),
        params:
            step="ProcessImagerL2Pipeline",
            parameters=fused_parameters,
            code=code_version(*STEPS, "pipeline"),
        script:
            "../scripts/run_step.py"


rule detector1:
    input:
        frame=ramp_file,
        cfg=config["steps"]["detector1"]["cfg"],
        references=ramp_references,
    output:
        f"{OUTPUT}/{{observation}}/{{exposure}}_raw.fits",
    log:
        "logs/detector1/{observation}/{exposure}.log",
    benchmark:
        "benchmarks/rules/detector1/{observation}/{exposure}.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 2
    resources:
        mem_mb=ramp_memory,
        runtime=measured_runtime("detector1"),
    params:
        step="Detector1Pipeline",
        parameters=step_rule_parameters("detector1"),
        code=code_version(
            "dq_init", "saturation", "nonlinearity", "jump", "ramp_fitting", "pipeline"
        ),
    script:
        "../scripts/run_step.py"


# With `fused_chain: true` and `frames_per_job` above 1, each job reduces that many frames of an observation,
# one after the other in one process: Python's start-up, the imports and the reading of the references are paid
# once per job. One rule per batch: its outputs are the frames' _cal products.
if BATCHED_FRAMES:
    for batch in fused_batches():

        rule:
            name:
                batch.rule
            input:
                frame=[FRAMES[batch.observation][e] for e in batch.exposures],
                background=batch_input(batch, fused_backgrounds),
                cfg=config["steps"]["process_imager_l2"]["cfg"],
                step_cfgs=[config["steps"][step]["cfg"] for step in STEPS],
                references=batch_input(batch, all_selected_references),
            output:
                batch_products(batch, "cal.fits"),
            log:
                f"logs/process_imager_l2/{batch.observation}/{batch.name}.log",
            benchmark:
                f"benchmarks/rules/process_imager_l2/{batch.observation}/{batch.name}.tsv"
            group:
                "frame"
            conda:
                "../envs/drs.yaml"
            threads: 1
            resources:
                mem_mb=batch_memory(batch),
                runtime=batch_runtime(batch),
            params:
                step="ProcessImagerL2Pipeline",
                parameters={
                    "steps": {
                        step: step_parameters(step, batch.observation)
                        for step in STEPS
                    }
                },
                batch=batch_frames(batch),
                code=code_version(*STEPS, "pipeline"),
            script:
                "../scripts/run_step.py"
