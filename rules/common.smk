# Input functions and the frame table shared by the rules.
import glob
import hashlib
import json
import os
from pathlib import Path

from astropy.io import fits

import liger_iris_pipeline
from liger_iris_pipeline.reference_store import store_context

OUTPUT = config["output_dir"]
CRDS_CACHE = os.path.abspath(config["crds"]["cache"])
STEPS = ("dq_init", "dark_current", "flat_field", "assign_wcs")
SUFFIX = {
    "dq_init": "dqinit",
    "dark_current": "dark",
    "flat_field": "flat",
    "assign_wcs": "cal",
}
REFTYPE = {"dq_init": "mask", "dark_current": "dark", "flat_field": "flat"}
# The references of Detector1 (ramp -> raw frame), selected from the ramp like the frame's own.
RAMP_REFTYPES = ("mask", "saturation", "nonlinearity", "readnoise", "gain")
# Peak memory of one step on a 4096x4096 frame is about 1.1 GB (benchmarks/): room to spare.
MEM_MB = {"IRIS": 1600, "LIGER": 600}


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

# Every job reads the fetched cache only, under the context the references were selected with.
os.environ.update(CRDS_PATH=CRDS_CACHE, CRDS_MODE="local", CRDS_CONTEXT=CONTEXT)
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


def ramp_memory(wildcards):
    """Detector1 holds the ramp, its group flags and a read copy: about three times the file, plus imports."""
    return 3 * os.path.getsize(ramp_file(wildcards)) // 2**20 + 600


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


def step_memory(wildcards):
    return MEM_MB[OBSERVATIONS[wildcards.observation]["instrument"]]


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
