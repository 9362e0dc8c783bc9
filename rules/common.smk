# The night's plan and the input functions of the rules. The plan itself (which files, under which names, merged
# and sky-subtracted how) is made by liger_iris_pipeline.workflow from the config and the raw files' headers; every
# check runs there or here, before any job, and stops the run with one line naming the file or config key.
import atexit
import json
import os
import re
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace as Wildcards

from snakemake.utils import validate

from liger_iris_pipeline.code_version import code_version
from liger_iris_pipeline.reference_store import store_context
from liger_iris_pipeline.registry import BY_ALIAS
from liger_iris_pipeline.workflow import dry_run, locks
from liger_iris_pipeline.workflow.config import ConfigFileError, validate_config
from liger_iris_pipeline.workflow.plan import plan_night
from liger_iris_pipeline.workflow.selection import check_context_settings, mark_context
from liger_iris_pipeline.workflow.selection import recorded_context
from liger_iris_pipeline.workflow.step_parameters import check_step_parameters
from liger_iris_pipeline.workflow.step_parameters import configured_parameters

#: The steps of the chain, in order, and the suffix of each one's product.
CHAIN = {
    "dq_init": "dqinit",
    "dark_current": "dark",
    "flat_field": "flat",
    "assign_wcs": "cal",
}
#: Steps the workflow runs, each with its parameter file (config steps/<step>/cfg, .cfg or .asdf; by default
#: config/steps/<step>.cfg).
WORKFLOW_STEPS = (
    *CHAIN,
    "background",
    "merge_subarrays",
    "process_imager_l2",
    "detector1",
    "master_dark",
    "process_flatfield_l2",
    "process_distortion_l2",
    "image3",
)
#: The specs of the rules that run a step of the package (rules/specs.smk); rules/calibrate.smk declares them.
STEP_RULES = []
#: Bookkeeping of the workflow's own in the working directory (Snakemake's is .snakemake/).
STATE_DIR = ".snakemake/liger_iris"


def step_cfg(step):
    """The parameter file (.cfg or .asdf) of ``step``: the config's, else the working directory's
    config/steps/<step>.cfg or the workflow's own."""
    configured = config.get("steps", {}).get(step, {}).get("cfg")
    return configured or WORKFLOW_FILES.step_cfg(step)


def step_parameters(step, observation=None):
    """The step's parameters from the config, with the observation's overrides on top."""
    return configured_parameters(config, step, observation)


def step_parameter_uses():
    """(step, parameter file, parameters, where) of every set of parameters a job may run with, for their check."""
    uses = [
        (step, step_cfg(step), step_parameters(step), f"steps/{step}/parameters")
        for step in WORKFLOW_STEPS
        # Level 3's stack (drizzle, tweakwcs, photutils, numba kernels) is imported only for a night with mosaics.
        if step != "image3" or NIGHT_HAS_MOSAICS
    ]
    for index, observation in enumerate(config["observations"]):
        for step in observation.get("steps", {}):
            uses.append(
                (
                    step,
                    step_cfg(step),
                    step_parameters(step, observation["name"]),
                    f"observations/{index}/steps/{step}",
                )
            )
    return uses


#: Whether an observation asks for a Level-3 mosaic (read from the config, before the plan).
NIGHT_HAS_MOSAICS = any(
    observation.get("mosaic", False) for observation in config.get("observations", [])
)


def plan():
    """Validate the config, plan the night and, in the main snakemake process, check the steps' parameters,
    clear the locks of a killed run and mark a changed CRDS context; one line and exit 1 on a problem.
    """
    global OBSERVATIONS
    try:
        schema = WORKFLOW_FILES.path("config/config.schema.yaml")
        validate_config(config, schema, "config")
        validate(config, schema)  # defaults
        OBSERVATIONS = {entry["name"]: entry for entry in config["observations"]}
        check_context_settings(config)
        night = plan_night(config)
        if workflow.is_main_process:
            check_step_parameters(step_parameter_uses(), STATE_DIR)
            for line in locks.remove_stale_locks(".snakemake/locks"):
                print(line, file=sys.stderr)
            context = config["crds"]["context"] or store_context(
                config["crds"]["store"]
            )
            mark_context(SELECTION_MARKER, SELECTION_TABLE, context)
    except (ConfigFileError, ValueError, OSError) as error:
        sys.exit(f"error: {' '.join(str(error).split())}")
    return night


OUTPUT = config["output_dir"]
SELECTION_TABLE = f"{OUTPUT}/crds/bestrefs.json"
SELECTION_MARKER = f"{OUTPUT}/crds/context.json"
NIGHT = plan()
# The context of the night's last reference selection, which the report names (None before the first).
config["crds"]["selected_context"] = recorded_context(SELECTION_TABLE)
FUSED_CHAIN = config["fused_chain"]


# The image of every job under --software-deployment-method apptainer (containers/, built from constraints.txt).
container: config["container"]


#: Threads of a mosaic job: its drizzling steps drizzle two frames at once, in forked processes.
MOSAIC_THREADS = 2
#: Fused batches: one job reduces (and one makes the quick-looks of) several frames.
BATCHED_FRAMES = FUSED_CHAIN and config["frames_per_job"] > 1
CRDS_CACHE = os.path.abspath(config["crds"]["cache"])

# Every job reads the fetched cache only (never a server), under the context of the selection table
# (scripts/run_step.py sets it from the table).
os.environ.update(CRDS_PATH=CRDS_CACHE, CRDS_MODE="local")
os.environ.pop("CRDS_SERVER_URL", None)
os.environ.pop("CRDS_CONTEXT", None)


onstart:
    locks.record_lock_owner(
        ".snakemake/locks", getattr(workflow.persistence, "_lockfile", {}).values()
    )


wildcard_constraints:
    observation="|".join(map(re.escape, NIGHT.frames)),
    exposure=r"[^/]+",


def log_of(rule, job="{observation}/{exposure}"):
    """The log file of a job of ``rule`` (``job``: its wildcards): under the night's output directory."""
    return f"{OUTPUT}/logs/{rule}/{job}.log"


def benchmark_of(rule, job="{observation}/{exposure}"):
    """The benchmark file of a job of ``rule``, beside the logs."""
    return f"{OUTPUT}/benchmarks/{rule}/{job}.tsv"


def product(step):
    """Path pattern of a chain step's output; intermediate products are temporary unless configured to keep them."""
    path = f"{OUTPUT}/{{observation}}/{{exposure}}_{CHAIN.get(step, 'bkgsub')}.fits"
    if step == "assign_wcs" or config["keep_intermediate"]:
        return path
    return temp(path)


def raw_frame(wildcards):
    return NIGHT.frames[wildcards.observation][wildcards.exposure]


def ramp_file(wildcards):
    return NIGHT.ramps[wildcards.observation][wildcards.exposure]


def merge_frames(wildcards):
    """Input function: the full frame's and its subarrays' calibrated products."""
    subarrays = NIGHT.merges[(wildcards.observation, wildcards.exposure)]
    return [
        f"{OUTPUT}/{wildcards.observation}/{name}_cal.fits"
        for name in [wildcards.exposure, *subarrays]
    ]


def background_frames(wildcards):
    """Input function: the frame's background exposures (from its association), if any."""
    return NIGHT.backgrounds.get((wildcards.observation, wildcards.exposure), [])


def chain_input(wildcards):
    """Input function of the chain's first step: the background-subtracted frame where the frame has
    background exposures, else the raw frame."""
    if (wildcards.observation, wildcards.exposure) in NIGHT.backgrounds:
        return product("background").format(**vars(wildcards))
    return raw_frame(wildcards)


def calibration_frames(wildcards):
    """Input function: the raw exposures of a calibration observation."""
    return NIGHT.calibration_frames(wildcards.calibration)


@cache
def step_code(step):
    """Params value: the version of the code a step's job runs (a change reruns it; the product records it).
    Once a plan (it reads every file it covers): a night's batch rules share it."""
    return code_version(BY_ALIAS[step].module_name)


def script_code(script):
    """Params value: the version of the package code a workflow script runs."""
    return code_version(WORKFLOW_FILES.path(f"scripts/{script}"))


def print_dry_run_summary():
    """At the end of a dry run, say how many listed jobs are certain when the reference selection must run first
    (the dry run is known only once snakemake has read the workflow)."""
    if workflow.dryrun and workflow.dag is not None:
        for line in dry_run.summary(workflow.dag, "crds_select"):
            print(line)


if workflow.is_main_process:
    atexit.register(print_dry_run_summary)


_BESTREFS = {}


def bestrefs():
    """The selection table of the crds_select checkpoint (read once per table version)."""
    table = checkpoints.crds_select.get().output.table
    key = (table, os.stat(table).st_mtime_ns)
    if key not in _BESTREFS:
        _BESTREFS.clear()
        _BESTREFS[key] = json.loads(Path(table).read_text())["bestrefs"]
    return _BESTREFS[key]


def selected_references(*reftypes):
    """Input function: the cached references of ``reftypes`` CRDS selected for the job's exposure (none where
    N/A)."""

    def references(wildcards):
        source = NIGHT.source_file(wildcards.observation, wildcards.exposure)
        # A context older than a reference type has no rules of that type, hence N/A.
        names = [bestrefs()[source].get(reftype, "N/A") for reftype in reftypes]
        return [
            f"{CRDS_CACHE}/references/ligeriri/{name}"
            for name in names
            if name != "N/A"
        ]

    return references


def after_selection(wildcards):
    """Input function of rules with no reference: ties them to the selection without adding inputs (without it
    they keep a stale "updated by another job" reason and rerun on every selection)."""
    bestrefs()
    return []


#: Params of every quick-look job: the display and the catalogue match (config quicklook).
QUICKLOOK_PARAMS = {
    "stretch": config["quicklook"]["stretch"],
    "max_size": config["quicklook"]["display_size"],
    "match_radius_arcsec": config["quicklook"]["match_radius_arcsec"],
    "code": script_code("quicklook.py"),
}


def l2b_stems():
    """<output_dir>/<observation>/<exposure>_<product> of every L2b frame the workflow makes."""
    return [path.removesuffix(".fits") for path in NIGHT.calibrated()]


def frame_catalog(wildcards):
    """Input function: the observation's star catalogue, else the one beside the raw frame (<raw>_catalog.ecsv)
    if there is one (a mosaic has no raw frame of its own)."""
    observation = NIGHT.observations[wildcards.observation]
    if "catalog" in observation:
        return [observation["catalog"]]
    if getattr(wildcards, "product", None) == "i2d":
        return []
    raw = Path(raw_frame(wildcards))
    catalog = raw.with_name(f"{raw.stem}_catalog.ecsv")
    return [str(catalog)] if catalog.is_file() else []


def mosaic_rule_name(observation):
    """``image3_<observation>``: rule names are identifiers."""
    stem = re.sub(r"\W", "_", observation)
    return f"image3_{stem}"


def mosaic_product(observation, suffix):
    """``<output_dir>/<observation>/<observation>_<suffix>``: a Level-3 product, named after its observation."""
    return f"{OUTPUT}/{observation}/{observation}_{suffix}"


def outlier_flagged(frame):
    """The _crf product of an L2b frame (_cal or _merged) of a mosaic."""
    return re.sub(r"_(cal|merged)\.fits$", "_crf.fits", frame)


def reference_catalog(observation):
    """The observation's absolute reference catalogue for tweakreg (config ``abs_refcat``), as a list."""
    catalog = OBSERVATIONS[observation].get("abs_refcat")
    return [catalog] if catalog else []


def image3_parameters(observation):
    """Image3Pipeline's parameters for ``observation``: the config's, with tweakreg's abs_refcat when the
    observation gives one (a file Snakemake tracks, so a new catalogue reruns the mosaic).
    """
    parameters = step_parameters("image3", observation)
    for catalog in reference_catalog(observation):
        steps = dict(parameters.get("steps") or {})
        steps["tweakreg"] = {**(steps.get("tweakreg") or {}), "abs_refcat": catalog}
        parameters["steps"] = steps
    return parameters


#: The files of each quick-look job, beside its frame <exposure>_<product>.fits: <exposure>_<product>_<kind>.
QUICKLOOK_KINDS = ("quicklook.png", "qa.ecsv", "stars.ecsv", "stars.reg")


def all_mosaic_products():
    """The default target's Level-3 products: each mosaic with its catalogue, regions and quick-look files."""
    return [
        mosaic_product(observation, suffix)
        for observation in NIGHT.mosaics
        for suffix in ("i2d.fits", "cat.ecsv", "cat.reg")
        + tuple(f"i2d_{kind}" for kind in QUICKLOOK_KINDS)
    ]


def all_quicklook_products():
    """The default target's quick-look files: every L2b frame's PNG, QA row and stars, the summary, the
    benchmarks."""
    per_frame = [f"{stem}_{kind}" for stem in l2b_stems() for kind in QUICKLOOK_KINDS]
    return (
        per_frame
        + list(rules.night_summary.output)
        + list(rules.benchmark_table.output)
    )


#: Report caption and label of each quick-look file that goes into the report (the QA row goes through the night
#: summary).
QUICKLOOK_REPORT = {
    "quicklook.png": ("../report/quicklook.rst", "quick-look"),
    "stars.ecsv": ("../report/quicklook_stars.rst", "stars (ECSV)"),
    "stars.reg": ("../report/quicklook_stars.rst", "stars (DS9 regions)"),
}


def quicklook_report(path, observation, frame):
    """``path``, a quick-look file of ``frame`` (its kind: the end of its name), as an item of the report."""
    kind = next(kind for kind in QUICKLOOK_REPORT if path.endswith(kind))
    caption, label = QUICKLOOK_REPORT[kind]
    return report(
        path,
        caption=caption,
        category="Quick-looks",
        subcategory=observation,
        labels={"frame": frame, "file": label},
    )


def batch_quicklook_reports(observation, exposures, kind):
    """The report items of the ``kind`` quick-look files of the _cal frames of a batch."""
    paths = batch_products(observation, exposures, f"cal_{kind}")
    return [
        quicklook_report(path, observation, f"{exposure}_cal")
        for exposure, path in zip(exposures, paths)
    ]
