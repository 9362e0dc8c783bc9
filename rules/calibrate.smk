# The calibration chain of every frame: [ramp -detector1->] raw [-background->] -> dq_init -> dark_current ->
# flat_field -> assign_wcs (L2b, _cal), and merge_subarrays (_merged). With `fused_chain: true`, the four steps
# run in one job per frame (process_imager_l2), or per batch of `frames_per_job` frames. Only the rule of the
# configured mode makes _cal products (a rule that could make them too would cost Snakemake a candidate job per
# frame); dq_init, dark_current and flat_field stay available for their intermediate products in every mode.
# Every job runs one step (or pipeline) of the package through scripts/run_step.py: the rules are declared from
# the table below by rules/steps.smk. Every rule downstream of the reference selection (a checkpoint) asks for
# its table, those that use no reference with ``after_selection``: a rule that does not would be scheduled
# before the selection has run, from the upper-bound plan (a sky subtraction rebuilding its temporary product
# would force the frame's whole chain), or keep a stale reason and rerun. On a cluster, profiles/slurm puts them in group "frame": an exposure's
# chain (with its subarray frames and their merge) is one cluster job, not one per step.
from liger_iris_pipeline.workflow import resources as measured


def frame_rule(name, step, input, output, parameters=None, **settings):
    """A per-frame rule (wildcards observation and exposure) running ``step``; its memory and time requests are
    the measured ones of ``name``'s jobs unless ``settings`` give others."""
    return {
        "name": name,
        "step": step,
        "input": input,
        "output": output,
        "log": log_of(name, "observation", "exposure"),
        "benchmark": benchmark_of(name, "observation", "exposure"),
        "parameters": parameters
        or (lambda wildcards: step_parameters(step, wildcards.observation)),
        "resources": {
            "mem_mb": measured.measured_memory(NIGHT, name),
            "runtime": measured.measured_runtime(NIGHT, name),
        },
        **settings,
    }


def fused_parameters(observation):
    """Parameters of the fused chain: each step's for the observation."""
    return {"steps": {step: step_parameters(step, observation) for step in CHAIN}}


def chain_rules():
    """The rules of the configured mode's chain."""
    previous = {
        "dq_init": None,
        "dark_current": "dq_init",
        "flat_field": "dark_current",
    }
    rules = [
        frame_rule(
            "background",
            "background",
            {
                "frame": raw_frame,
                "background": background_frames,
                "selection": after_selection,
            },
            product("background"),
        ),
        *(
            frame_rule(
                step,
                step,
                {
                    "frame": product(previous[step]) if previous[step] else chain_input,
                    "reference": selected_references(*BY_ALIAS[step].reftypes),
                },
                product(step),
            )
            for step in previous
        ),
        frame_rule(
            "merge_subarrays",
            "merge_subarrays",
            {"frame": merge_frames, "selection": after_selection},
            f"{OUTPUT}/{{observation}}/{{exposure}}_merged.fits",
        ),
        frame_rule(
            "detector1",
            "detector1",
            {
                "frame": ramp_file,
                "references": selected_references(*BY_ALIAS["detector1"].reftypes),
            },
            f"{OUTPUT}/{{observation}}/{{exposure}}_raw.fits",
            threads=2,
            resources={
                "mem_mb": lambda wildcards, attempt: measured.ramp_memory(
                    ramp_file(wildcards), attempt
                ),
                "runtime": measured.measured_runtime(NIGHT, "detector1"),
            },
        ),
    ]
    if not FUSED_CHAIN:
        rules.append(
            frame_rule(
                "assign_wcs",
                "assign_wcs",
                {"frame": product("flat_field"), "selection": after_selection},
                product("assign_wcs"),
            )
        )
    elif not BATCHED_FRAMES:
        rules.append(
            frame_rule(
                "process_imager_l2",
                "process_imager_l2",
                {
                    "frame": raw_frame,
                    "background": background_frames,
                    "step_cfgs": [step_cfg(step) for step in CHAIN],
                    "references": selected_references(
                        *BY_ALIAS["process_imager_l2"].reftypes
                    ),
                },
                f"{OUTPUT}/{{observation}}/{{exposure}}_cal.fits",
                parameters=lambda wildcards: fused_parameters(wildcards.observation),
            )
        )
    else:
        rules += [
            batch_rule(*batch) for batch in NIGHT.batches(config["frames_per_job"])
        ]
    return rules


def batch_rule(observation, number, exposures):
    """The rule of a batch of an observation's frames reduced in one process (fused chain, frames_per_job > 1):
    one rule per batch, named after its observation and number, its outputs the frames' _cal products.
    """
    instrument = NIGHT.instrument(observation)
    frames = [Wildcards(observation=observation, exposure=e) for e in exposures]
    name = batch_rule_name("process_imager_l2", observation, number)
    return {
        "name": name,
        "step": "process_imager_l2",
        "input": {
            "frame": [raw_frame(frame) for frame in frames],
            "background": unique(background_frames(frame) for frame in frames),
            "step_cfgs": [step_cfg(step) for step in CHAIN],
            "references": lambda wildcards: unique(
                selected_references(*BY_ALIAS["process_imager_l2"].reftypes)(frame)
                for frame in frames
            ),
        },
        "output": batch_products(observation, exposures, "cal.fits"),
        "log": f"{OUTPUT}/logs/process_imager_l2/{observation}/batch_{number:04d}.log",
        "benchmark": f"{OUTPUT}/benchmarks/process_imager_l2/{observation}/batch_{number:04d}.tsv",
        "parameters": fused_parameters(observation),
        # [frame, its background exposures, its _cal product] of each frame.
        "batch": [
            [raw_frame(frame), background_frames(frame), cal]
            for frame, cal in zip(
                frames, batch_products(observation, exposures, "cal.fits")
            )
        ],
        "group": "frame",
        "resources": {
            "mem_mb": measured.batch_memory(instrument, "process_imager_l2"),
            "runtime": measured.batch_runtime(
                instrument, "process_imager_l2", len(exposures)
            ),
        },
    }


def batch_rule_name(rule, observation, number):
    """``<rule>_<observation>_<NNNN>``: rule names are identifiers."""
    stem = re.sub(r"\W", "_", observation)
    return f"{rule}_{stem}_{number:04d}"


def batch_products(observation, exposures, suffix):
    """The ``<exposure>_<suffix>`` products of the frames of a batch."""
    return [f"{OUTPUT}/{observation}/{exposure}_{suffix}" for exposure in exposures]


def unique(lists):
    """The items of ``lists``, in order, without repeats."""
    return list(dict.fromkeys(item for items in lists for item in items))


STEP_RULES.extend(chain_rules())
