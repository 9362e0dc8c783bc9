# Input functions and the frame table shared by the rules.
import glob
import hashlib
import json
import math
import os
import re
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace as Wildcards

from astropy.io import fits

import liger_iris_pipeline
from liger_iris_pipeline.associations import load_association
from liger_iris_pipeline.instruments import IMAGERS
from liger_iris_pipeline.reference_product import reference_name_of_exposures
from liger_iris_pipeline.reference_store import store_context

OUTPUT = config["output_dir"]
FUSED_CHAIN = config.get("fused_chain", False)
FRAMES_PER_JOB = config.get("frames_per_job", 1)
#: Fused batches: one job reduces (and one makes the quick-looks of) several frames.
BATCHED_FRAMES = FUSED_CHAIN and FRAMES_PER_JOB > 1
CRDS_CACHE = os.path.abspath(config["crds"]["cache"])
STEPS = ("dq_init", "dark_current", "flat_field", "assign_wcs")
SUFFIX = {
    "background": "bkgsub",
    "dq_init": "dqinit",
    "dark_current": "dark",
    "flat_field": "flat",
    "assign_wcs": "cal",
}
REFTYPE = {"dq_init": "mask", "dark_current": "dark", "flat_field": "flat"}
# The references of Detector1 (ramp -> raw frame), selected from the ramp like the frame's own.
RAMP_REFTYPES = ("mask", "saturation", "nonlinearity", "readnoise", "gain")
# Measured cost of one job in a fresh process on a full detector frame (IRIS 4096x4096, Liger 2048x2048), 2 cores
# and a local disk: (peak RSS in MiB, wall seconds). IRIS steps and pipeline: benchmarks/results/imager_l2.json
# (median of 3, 2026-12-01, quiet machine); the rest: /usr/bin/time -v on the demo's frames, 2026-11-25
# (merge_subarrays with one 512x512 GUIDE window). A subarray frame is smaller than its detector, so its job needs less.
MEASURED = {
    "dq_init": {"IRIS": (656, 2.1), "LIGER": (234, 2.4)},
    "dark_current": {"IRIS": (819, 3.2), "LIGER": (266, 2.4)},
    "flat_field": {"IRIS": (820, 3.6), "LIGER": (330, 2.4)},
    "assign_wcs": {"IRIS": (656, 2.6), "LIGER": (234, 2.1)},
    "process_imager_l2": {"IRIS": (821, 3.3), "LIGER": (330, 2.8)},
    "merge_subarrays": {"IRIS": (510, 3.2), "LIGER": (234, 6.5)},
    # One sky member, /usr/bin/time -v on simulated frames, 2026-11-25, machine loaded (load ~10).
    "background": {"IRIS": (2496, 16.6), "LIGER": (732, 9.2)},
    # Detector1 on a 10-group ramp, file to file: benchmarks/results/detector1.json (IRIS, quiet machine); Liger
    # scaled from it by pixel count (the cost is per pixel and group). Its memory request is ramp_memory's.
    "detector1": {"IRIS": (1589, 3.9), "LIGER": (397, 1.0)},
    # Quick-look of an L2b frame: benchmarks/results/quicklook.json (IRIS, 2.3 s in process) plus ~3 s of imports;
    # Liger scaled from it by pixel count.
    "quicklook": {"IRIS": (920, 5.3), "LIGER": (230, 1.3)},
}
# A batch of frames in one job (frames_per_job > 1): (peak RSS in MiB, wall seconds of each frame after the first).
# The chain: benchmarks/results/imager_l2.json (a 10-frame batch; the job keeps its references). Quick-looks:
# benchmarks/results/quicklook.json (in process). Liger scaled from IRIS by pixel count.
MEASURED_IN_BATCH = {
    "process_imager_l2": {"IRIS": (1098, 0.32), "LIGER": (500, 0.1)},
    "quicklook": {"IRIS": (920, 2.3), "LIGER": (230, 0.6)},
}
# A job asks for 1.5 x the measured peak memory and 20 x the measured time (a busy shared file system is far
# slower than the local disk measured on), both times the attempt: a job that SLURM kills for running out of
# either gets more on its retry.
MEMORY_MARGIN = 1.5
RUNTIME_MARGIN = 20


def expand_patterns(observation, patterns):
    """{exposure: path} of the files and globs; a pattern matching nothing is an error."""
    exposures = {}
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not paths or not all(os.path.isfile(path) for path in paths):
            raise ValueError(
                f"config: observation {observation['name']}: no raw file matches {pattern}"
            )
        exposures.update(
            {Path(path).name.removesuffix(".fits"): path for path in paths}
        )
    return exposures


def find_ramps():
    """{observation: {exposure: ramp path}}: the up-the-ramp reads (L0) of each observation that lists them."""
    return {
        observation["name"]: expand_patterns(observation, observation["ramps"])
        for observation in config["observations"]
        if observation.get("ramps")
    }


def find_frames():
    """{observation: {exposure: raw path}}: the frames and subarray frames of each observation, and the raw
    frame the detector1 rule makes of each ramp (<output_dir>/<observation>/<ramp exposure>_raw.fits).
    """
    frames = {}
    for observation in config["observations"]:
        name = observation["name"]
        patterns = observation.get("raw", []) + observation.get("subarrays", [])
        frames[name] = expand_patterns(observation, patterns)
        frames[name].update(
            {ramp: f"{OUTPUT}/{name}/{ramp}_raw.fits" for ramp in RAMPS.get(name, {})}
        )
    return frames


def exposure_number(path):
    return fits.getval(path, "EXPOSURE")


def find_merges():
    """{(observation, full-frame exposure): [subarray exposures]} for observations that merge subarrays,
    matched on the EXPOSURE keyword."""
    merges = {}
    for observation in config["observations"]:
        if not observation.get("merge_subarrays", False):
            continue
        full = {
            exposure_number(path): name
            for name, path in expand_patterns(
                observation, observation.get("raw", [])
            ).items()
        }
        for name, path in expand_patterns(
            observation, observation.get("subarrays", [])
        ).items():
            number = exposure_number(path)
            if number not in full:
                raise ValueError(
                    f"config: observation {observation['name']}: {path} has no full frame of exposure {number}"
                )
            merges.setdefault((observation["name"], full[number]), []).append(name)
    return merges


RAMPS = find_ramps()
FRAMES = find_frames()
MERGES = find_merges()
OBSERVATIONS = {
    observation["name"]: observation for observation in config["observations"]
}
CONTEXT = config["crds"]["context"] or store_context(config["crds"]["store"])
CALIBRATIONS = {
    calibration["name"]: calibration for calibration in config.get("calibrations", [])
}

# Every job reads the fetched cache only, under the context the references were selected with. With
# calibrations that context is made during the run: crds_select writes it into the cache's server_config.
os.environ.update(CRDS_PATH=CRDS_CACHE, CRDS_MODE="local", CRDS_CONTEXT=CONTEXT)
if CALIBRATIONS:
    os.environ.pop("CRDS_CONTEXT")
os.environ.pop("CRDS_SERVER_URL", None)


wildcard_constraints:
    observation="|".join(FRAMES),
    exposure=r"[^/]+",


def product(step):
    """Path pattern of a step's output; intermediate products are temporary unless configured to keep them."""
    path = f"{OUTPUT}/{{observation}}/{{exposure}}_{SUFFIX[step]}.fits"
    if step == "assign_wcs" or config.get("keep_intermediate", False):
        return path
    return temp(path)


def all_calibrated():
    calibrated = [
        f"{OUTPUT}/{observation}/{exposure}_cal.fits"
        for observation, exposures in FRAMES.items()
        for exposure in exposures
    ]
    merged = [
        f"{OUTPUT}/{observation}/{exposure}_merged.fits"
        for observation, exposure in MERGES
    ]
    return calibrated + merged


def merge_frames(wildcards):
    """Input function: the full frame's and its subarrays' calibrated products."""
    subarrays = MERGES[(wildcards.observation, wildcards.exposure)]
    return [
        f"{OUTPUT}/{wildcards.observation}/{name}_cal.fits"
        for name in [wildcards.exposure, *subarrays]
    ]


def raw_frame(wildcards):
    return FRAMES[wildcards.observation][wildcards.exposure]


def source_file(observation, exposure):
    """The file an exposure starts from, on which CRDS selects its references: its ramp or raw frame."""
    return RAMPS.get(observation, {}).get(exposure) or FRAMES[observation][exposure]


def source_files():
    """Every exposure's source file: the inputs of the reference selection."""
    return [
        source_file(observation, exposure)
        for observation, exposures in FRAMES.items()
        for exposure in exposures
    ]


def ramp_file(wildcards):
    return RAMPS[wildcards.observation][wildcards.exposure]


def ramp_memory(wildcards, attempt):
    """Detector1 holds the ramp, one reference at a time and the frame it makes: about 1.2 times the file
    plus imports (measured: 1589 MiB for a 4096x4096 x 10-group ramp of 864 MiB, MEASURED); asked with a
    margin of about 1.5, more on a retry."""
    return attempt * (2 * os.path.getsize(ramp_file(wildcards)) // 2**20 + 600)


def step_parameters(step, observation):
    """The step's parameters from the config, with the observation's overrides on top."""
    parameters = dict(config["steps"][step].get("parameters") or {})
    parameters.update(OBSERVATIONS[observation].get("steps", {}).get(step) or {})
    return parameters


def step_rule_parameters(step):
    """Params function: the step's parameters for the job's observation."""
    return lambda wildcards: step_parameters(step, wildcards.observation)


def code_version(*folders):
    """Digest of the given package folders (a step's step and algorithm modules). Snakemake tracks a script
    rule's own script but not the code it imports: as a param, a change to the step's code reruns the step.
    """
    digest = hashlib.sha1()
    for folder in folders:
        for path in sorted(
            (Path(liger_iris_pipeline.__file__).parent / folder).glob("*.py")
        ):
            digest.update(path.read_bytes())
    return f"{liger_iris_pipeline.__version__}+{digest.hexdigest()[:12]}"


def fused_parameters(wildcards):
    """Params function of the fused chain: each step's parameters for the job's observation."""
    return {
        "steps": {step: step_parameters(step, wildcards.observation) for step in STEPS}
    }


def all_selected_references(wildcards):
    """Input function of the fused chain: every reference the frame's steps use."""
    return [path for step in REFTYPE for path in selected_reference(step)(wildcards)]


FusedBatch = namedtuple("FusedBatch", "rule observation name exposures")


def fused_batches():
    """The batches of the fused chain when each job reduces ``frames_per_job`` frames: an observation's
    exposures in order (adding later exposures to a night changes only its last batch), each with the name of
    its rule and its own name (batch_0001, ...) for its log and benchmark files."""
    batches = []
    for observation, exposures in FRAMES.items():
        names = sorted(exposures)
        rule_stem = re.sub(r"\W", "_", observation)  # rule names are identifiers
        for number, start in enumerate(range(0, len(names), FRAMES_PER_JOB), 1):
            batches.append(
                FusedBatch(
                    f"process_imager_l2_{rule_stem}_{number:04d}",
                    observation,
                    f"batch_{number:04d}",
                    names[start : start + FRAMES_PER_JOB],
                )
            )
    return batches


def batch_input(batch, input_function):
    """Input function of a fused batch: ``input_function`` of each of its frames, in order, without repeats."""

    def paths(wildcards):
        frames = [
            Wildcards(observation=batch.observation, exposure=e)
            for e in batch.exposures
        ]
        return list(
            dict.fromkeys(path for frame in frames for path in input_function(frame))
        )

    return paths


def batch_products(batch, suffix):
    """The ``<exposure>_<suffix>`` products of the frames of a fused batch."""
    return [
        f"{OUTPUT}/{batch.observation}/{exposure}_{suffix}"
        for exposure in batch.exposures
    ]


def batch_frames(batch):
    """Params of a fused batch: [frame, its background exposures, its _cal product] of each of its frames."""
    return [
        [
            FRAMES[batch.observation][exposure],
            BACKGROUNDS.get((batch.observation, exposure), []),
            cal,
        ]
        for exposure, cal in zip(batch.exposures, batch_products(batch, "cal.fits"))
    ]


def batch_memory(batch, rule="process_imager_l2"):
    """Resource function: mem_mb of a batch job of ``rule``."""
    peak_mib, _ = MEASURED_IN_BATCH[rule][OBSERVATIONS[batch.observation]["instrument"]]
    return (
        lambda wildcards, attempt: attempt
        * 100
        * math.ceil(MEMORY_MARGIN * peak_mib / 100)
    )


def batch_runtime(batch, rule="process_imager_l2"):
    """Resource function: runtime (minutes) of a batch job of ``rule``: its first frame as a job of its own,
    each later one at the measured cost of a frame in a batch."""
    instrument = OBSERVATIONS[batch.observation]["instrument"]
    seconds = MEASURED[rule][instrument][1]
    seconds += (len(batch.exposures) - 1) * MEASURED_IN_BATCH[rule][instrument][1]
    return lambda wildcards, attempt: attempt * math.ceil(RUNTIME_MARGIN * seconds / 60)


def measured_memory(rule):
    """Resource function: mem_mb of the rule's job, from its measured peak for the observation's instrument."""

    def mem_mb(wildcards, attempt):
        peak_mib, _ = MEASURED[rule][OBSERVATIONS[wildcards.observation]["instrument"]]
        return attempt * 100 * math.ceil(MEMORY_MARGIN * peak_mib / 100)

    return mem_mb


def measured_runtime(rule):
    """Resource function: runtime (minutes) of the rule's job, from its measured wall time."""

    def runtime(wildcards, attempt):
        _, seconds = MEASURED[rule][OBSERVATIONS[wildcards.observation]["instrument"]]
        return attempt * math.ceil(RUNTIME_MARGIN * seconds / 60)

    return runtime


def calibration_memory(wildcards, input):
    """A stack of N exposures (SCI, ERR, DQ and the work arrays): about 6 x N frames of float32."""
    instrument = CALIBRATIONS[wildcards.calibration]["instrument"]
    size = IMAGERS[instrument].size
    one_frame_mib, _ = MEASURED["dark_current"][instrument]
    return one_frame_mib + 6 * len(input.frame) * size * size * 4 // 2**20


_BESTREFS = {}


def bestrefs():
    """The selection table of the crds_select checkpoint (read once per table version)."""
    table = checkpoints.crds_select.get().output.table
    key = (table, os.stat(table).st_mtime_ns)
    if key not in _BESTREFS:
        _BESTREFS.clear()
        _BESTREFS[key] = json.loads(Path(table).read_text())["bestrefs"]
    return _BESTREFS[key]


def selected_reference(step):
    """Input function: the cached reference CRDS selected for this frame, or nothing when N/A."""

    return lambda wildcards: cached_references(wildcards, [REFTYPE[step]])


def cached_references(wildcards, reftypes):
    """The cached references of ``reftypes`` CRDS selected for the job's exposure (none where N/A)."""
    selected = bestrefs()[source_file(wildcards.observation, wildcards.exposure)]
    names = [selected[reftype] for reftype in reftypes]
    return [
        f"{CRDS_CACHE}/references/ligeriri/{name}" for name in names if name != "N/A"
    ]


def ramp_references(wildcards):
    """Input function of detector1: the readout references selected for the ramp."""
    return cached_references(wildcards, RAMP_REFTYPES)


def after_selection(wildcards):
    """Input function of rules with no reference: ties them to the selection without adding inputs."""
    bestrefs()
    return []


def find_backgrounds():
    """{(observation, exposure): [background exposure paths]} from the observations' association files."""
    backgrounds = {}
    for observation in config["observations"]:
        name = observation["name"]
        frames = {
            Path(path).resolve(): exposure for exposure, path in FRAMES[name].items()
        }
        for association in expand_patterns(
            observation, observation.get("associations", [])
        ).values():
            for asn_product in load_association(association):
                for science in asn_product.science:
                    if science not in frames:
                        raise ValueError(
                            f"config: observation {name}: {association}: science member {science.name} is not one of its raw frames"
                        )
                    if asn_product.background:
                        backgrounds[(name, frames[science])] = [
                            str(path) for path in asn_product.background
                        ]
    return backgrounds


BACKGROUNDS = find_backgrounds()


def background_frames(wildcards):
    """Input function: the background exposures of a frame (from its association)."""
    return BACKGROUNDS[(wildcards.observation, wildcards.exposure)]


def chain_input(wildcards):
    """Input function of the chain's first step: the background-subtracted frame where the frame has
    background exposures, else the raw frame."""
    if (wildcards.observation, wildcards.exposure) in BACKGROUNDS:
        return product("background").format(**wildcards)
    return raw_frame(wildcards)


def fused_backgrounds(wildcards):
    """Input function of the fused chain: the frame's background exposures, if any."""
    return BACKGROUNDS.get((wildcards.observation, wildcards.exposure), [])


def calibration_frames(wildcards):
    """Input function: the raw exposures of a calibration observation."""
    calibration = CALIBRATIONS[wildcards.calibration]
    return list(expand_patterns(calibration, calibration["raw"]).values())


def master_reference(name):
    """Path of the reference made from the calibration observation ``name``, named by the design's convention."""
    calibration = CALIBRATIONS[name]
    paths = list(expand_patterns(calibration, calibration["raw"]).values())
    reference = reference_name_of_exposures(
        paths, calibration["type"], calibration.get("version", 1)
    )
    return f"{OUTPUT}/calibrations/{calibration['type']}/{name}/{reference}"


def flat_dark(wildcards):
    """Input function of master_flat: the master dark its flats are dark-subtracted with, if any."""
    dark = CALIBRATIONS[wildcards.calibration].get("dark")
    return [master_reference(dark)] if dark else []


def flat_parameters(wildcards, input):
    """Params function of master_flat: the dark to subtract (its master dark, or none)."""
    dark = {"override_dark": input.dark[0]} if input.dark else {"skip": True}
    return {"steps": {"dark_current": dark}}


def calibration_context():
    """The file naming the context the calibration products were added as (none without calibrations)."""
    return [f"{OUTPUT}/crds/calibrations.json"] if CALIBRATIONS else []


def selection_context(wildcards, input):
    """Params function of crds_select with calibrations: the context they made (unless one is configured)."""
    if config["crds"]["context"]:
        return CONTEXT
    return json.loads(Path(input.calibrations[0]).read_text())["context"]
