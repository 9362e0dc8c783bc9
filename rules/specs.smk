# The specs of the rules that run a step of the package (one per kind of step job): the chain of every frame in
# the configured mode, its batches, and the calibration products; rules/calibrate.smk declares a rule from each.
from liger_iris_pipeline.reference_names import reference_name_of_exposures
from liger_iris_pipeline.workflow import resources as measured
from liger_iris_pipeline.workflow.step_parameters import fused_chain_parameters


def frame_rule(name, step, input, output, parameters=None, **settings):
    """A per-frame rule (wildcards observation and exposure) running ``step``; its memory and time requests are
    the measured ones of ``name``'s jobs unless ``settings`` give others."""
    return {
        "name": name,
        "step": step,
        "input": input,
        "output": output,
        "log": log_of(name),
        "benchmark": benchmark_of(name),
        "parameters": parameters
        or (lambda wildcards: step_parameters(step, wildcards.observation)),
        "resources": {
            "mem_mb": measured.measured_memory(NIGHT, name),
            "runtime": measured.measured_runtime(NIGHT, name),
        },
        **settings,
    }


def fused_parameters(observation):
    """Parameters of the fused chain for the observation (the watcher's too)."""
    return fused_chain_parameters(config, observation)


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
                {
                    "frame": product("flat_field"),
                    "reference": selected_references(*BY_ALIAS["assign_wcs"].reftypes),
                },
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
    """The spec of a batch of an observation's frames reduced in one process (fused chain, frames_per_job > 1),
    one rule per batch, named after its observation and number; its outputs are the frames' _cal products.
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


def master_reference(name):
    """Path of the reference made from the calibration observation ``name``, named by the design's convention."""
    calibration = NIGHT.calibrations[name]
    reference = reference_name_of_exposures(
        NIGHT.calibration_frames(name), calibration["type"], calibration["version"]
    )
    return f"{OUTPUT}/calibrations/{calibration['type']}/{name}/{reference}"


def flat_dark(wildcards):
    """Input function of master_flat and master_distortion: the master dark their exposures are dark-subtracted
    with, if any."""
    dark = NIGHT.calibrations[wildcards.calibration].get("dark")
    return [master_reference(dark)] if dark else []


def override_or_skip(parameter, references):
    """A step's parameters: the first of ``references`` as its reference file, or skip the step without one."""
    return {parameter: references[0]} if references else {"skip": True}


def flat_parameters(wildcards, input):
    """Params function of master_flat: the dark to subtract (its master dark, or none)."""
    return {"steps": {"dark_current": override_or_skip("override_dark", input.dark)}}


def distortion_flat(wildcards):
    """Input function of master_distortion: the master flat its exposures are flat-fielded with, if any."""
    flat = NIGHT.calibrations[wildcards.calibration].get("flat")
    return [master_reference(flat)] if flat else []


def distortion_catalog(wildcards):
    """Input function of master_distortion: the reference catalogue it solves against, if any."""
    catalog = NIGHT.calibrations[wildcards.calibration].get("catalog")
    return [catalog] if catalog else []


def distortion_parameters(wildcards, input):
    """Params function of master_distortion: its dark and flat (or none) and its catalogue (or none)."""
    return {
        "steps": {
            "dark_current": override_or_skip("override_dark", input.dark),
            "flat_field": override_or_skip("override_flat", input.flat),
            "distortion_solution": {
                "catalog": input.catalog[0] if input.catalog else ""
            },
        }
    }


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
        "log": log_of(name, "{calibration}/{reference}"),
        "benchmark": benchmark_of(name, "{calibration}/{reference}"),
        "parameters": parameters,
        "resources": {"mem_mb": calibration_memory},
    }
