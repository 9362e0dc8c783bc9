"""The reduction of 4096x4096 IRIS frames at scale, beside the machine's floor and jwst's steps.

Measured side by side in one run (ratios are meaningful on a shared machine):
- the floor of one frame: its bytes read and written at the measured disk bandwidth, plus one pass of the
  arithmetic over its arrays at the measured memory bandwidth;
- one frame raw -> L2b, each step file to file in a fresh process and the whole chain in one process
  (seconds, peak memory; ``bench_imager_l2.py``'s measurement), and the chain on 10 frames in one process
  (``batch()``), beside its floor per frame (the references read once for the 10);
- the Snakemake workflow with ``--cores 2`` on N frames: per-step rules, the fused rule (``fused_chain``),
  the fused rule with 10 frames per job (``frames_per_job``) and per-step rules grouped per frame
  (``--groups``/``--group-components``, no rule edits), with Snakemake's start-up (a dry run of the same
  plan) and its own overhead per job: the time a core stood idle while a job was ready for it, from the
  jobs' own intervals (the rules' benchmark files, ``<output_dir>/benchmarks/**.tsv``, and their times of
  writing);
- a dry run of a 2,000-frame night (placeholder files and selection table), greedy and ILP schedulers; the
  first dry run of a night apart (it checks the steps' parameters, which later runs find remembered);
- jwst's FlatFieldStep and DarkCurrentStep on the same arrays, in jwst's own environment (``--jwst-python``).

    python benchmarks/bench_workflow_scale.py [--frames 1,10,50] [--size 4096] [--repeat 3]
        [--dry-run-frames 2000] [--jwst-python benchmarks/.jwst-venv/bin/python] [--output-dir benchmarks/results]
        [--only dry-run]

The frames of a Snakemake run are hard links to one simulated frame, so their reads come from the page cache,
like the references'. Scratch files (about 10 GB at N = 50) are removed as soon as a run is measured.
Writes ``workflow_scale.md`` (shown on docs/performance.rst) and ``workflow_scale.json``; with ``--only
dry-run``, the dry run alone (a few minutes), ``workflow_scale_dry_run.md`` and ``.json``.
"""

import argparse
import csv
import heapq
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

BENCHMARKS = Path(__file__).resolve().parent
REPOSITORY = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))
import bench_imager_l2 as single  # noqa: E402 (the per-step and one-process measurement of one frame)

STEPS = ("dq_init", "dark_current", "flat_field", "assign_wcs")
OBSERVATION = "iris_field"
#: The nights' output directory (the workflow's output_dir), in their work directory.
OUTPUT_DIR = "results"
RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_{:04d}.fits"
RAW_PATTERN = "raw/*_LVL1_[0-9][0-9][0-9][0-9].fits"
MODES = {
    "per-step rules": [],
    "fused rule": ["--config", "fused_chain=True"],
    f"fused, {single.BATCH_FRAMES} frames per job": ["--config", "fused_chain=True", f"frames_per_job={single.BATCH_FRAMES}"],
    "grouped per frame": ["--groups", *(f"{step}=frame" for step in STEPS), "--group-components", "frame=1"],
}
MIB = 2**20
#: Targets of issue 9.
TARGET_FLOOR_RATIO = 3.0
TARGET_FRAME_SECONDS = 1.0
TARGET_OVERHEAD = 0.10
TARGET_PEAK_MIB = 1.5 * 1000**3 / MIB
TARGET_DRY_RUN_SECONDS = 10.0


def median_of(repeat, measure):
    return statistics.median(measure() for _ in range(repeat))


def disk_bandwidth(directory, size_mib, repeat):
    """MiB/s writing a file with fsync, and reading it back after dropping its pages from the page cache."""
    data = np.random.default_rng(0).integers(0, 256, size=size_mib * MIB, dtype=np.uint8)
    path = Path(directory) / "disk_probe.bin"
    writes, reads = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        with open(path, "wb") as file:
            file.write(data.data)
            file.flush()
            os.fsync(file.fileno())
        writes.append(size_mib / (time.perf_counter() - began))
        descriptor = os.open(path, os.O_RDONLY)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)  # only this file's pages leave the cache
        os.close(descriptor)
        began = time.perf_counter()
        np.fromfile(path, dtype=np.uint8)
        reads.append(size_mib / (time.perf_counter() - began))
        path.unlink()
    return {"write_mib_s": statistics.median(writes), "read_mib_s": statistics.median(reads), "size_mib": size_mib}


def memory_bandwidth(size_mib, repeat):
    """MiB/s moved (read + written) by a numpy copy of a large float32 array."""
    source = np.ones(size_mib * MIB // 4, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch the pages once

    def copy():
        began = time.perf_counter()
        np.copyto(target, source)
        return time.perf_counter() - began

    return {"copy_mib_s": 2 * size_mib / median_of(repeat, copy), "size_mib": size_mib}


def array_bytes(path):
    """Bytes of the image arrays of a FITS file (what the arithmetic reads or writes)."""
    from astropy.io import fits

    with fits.open(path) as hdulist:
        return sum(hdu.size * abs(hdu.header["BITPIX"]) // 8 for hdu in hdulist if hdu.is_image and hdu.size)


def floor(inputs, output, disk, memory, references_shared_by=1):
    """The fastest a frame job could be: its file bytes at disk speed plus one memory pass over its arrays.
    ``inputs`` are the frame and then its references, which a batch of ``references_shared_by`` frames reads
    once."""
    frame, *references = inputs
    share = 1 / references_shared_by
    read = Path(frame).stat().st_size + share * sum(Path(path).stat().st_size for path in references)
    written = Path(output).stat().st_size
    arrays = array_bytes(frame) + array_bytes(output) + share * sum(array_bytes(path) for path in references)
    disk_s = read / MIB / disk["read_mib_s"] + written / MIB / disk["write_mib_s"]
    memory_s = arrays / MIB / memory["copy_mib_s"]
    return {
        "read_mib": read / MIB,
        "written_mib": written / MIB,
        "array_mib": arrays / MIB,
        "disk_s": disk_s,
        "memory_s": memory_s,
        "total_s": disk_s + memory_s,
    }


def environment(repository=REPOSITORY):
    """This environment's scripts (snakemake, and python for the rules' scripts) first on PATH; no CRDS_*. For
    another checkout of the project (``repository``), its package first on PYTHONPATH: its workflow imports its
    own package code, not this environment's editable install."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CRDS_")}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    clean.pop("PYTHONPATH", None)
    if Path(repository).resolve() != REPOSITORY:
        clean["PYTHONPATH"] = str(Path(repository).resolve())
    return clean


def snakemake(workdir, *args, timeout=None, repository=REPOSITORY, prefix=()):
    """Run snakemake with --cores 2 in ``workdir`` (a workflow copy of ``repository``), behind the command
    ``prefix`` if any; seconds of wall time. Raises with its output on failure."""
    command = [*prefix, str(Path(sys.executable).parent / "snakemake"), "--cores", "2", *args]
    began = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=workdir,
        env=environment(repository),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - began
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return seconds, completed


def workflow_copy(workdir, config, repository=REPOSITORY):
    """The workflow files of the checkout ``repository`` (linked) and its config/ (copied) in ``workdir``, with
    ``config`` over its config/config.yaml: the config the workflow reads when no --configfile is given."""
    workdir.mkdir(parents=True)
    for name in ("Snakefile", "rules", "scripts", "envs", "profiles", "report"):
        if (repository / name).exists():
            (workdir / name).symlink_to(repository / name)
    shutil.copytree(repository / "config", workdir / "config")
    base = yaml.safe_load((repository / "config" / "config.yaml").read_text())
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump({**base, **config}, sort_keys=False))


def night(workdir, written, n_frames):
    """A workflow directory with ``n_frames`` raw frames (hard links to one), their references in a store,
    the CRDS selection made and the references fetched, so that a run does only the frames' jobs."""
    from liger_iris_pipeline.reference_store import add_references

    workflow_copy(
        workdir,
        {
            "output_dir": OUTPUT_DIR,
            "crds": {"store": "store", "context": None, "cache": "crds_cache"},
            "observations": [{"name": OBSERVATION, "instrument": "IRIS", "raw": [RAW_PATTERN]}],
            "calibrations": [],  # the demo's calibration observations name files this night does not have
        },
    )
    (workdir / "raw").mkdir()
    for number in range(1, n_frames + 1):
        os.link(written.raw[0], workdir / "raw" / RAW_NAME.format(number))
    add_references(workdir / "store", [written.mask, written.dark, written.flat])
    table = f"{OUTPUT_DIR}/crds/bestrefs.json"
    snakemake(workdir, table)
    selected = {name for refs in json.loads((workdir / table).read_text())["bestrefs"].values() for name in refs.values()}
    cache = workdir.resolve() / "crds_cache" / "references" / "ligeriri"  # the fetch rule's outputs are absolute
    snakemake(workdir, *(str(cache / name) for name in sorted(selected) if name != "N/A"))


def job_benchmarks(workdir):
    """Rows of the frame jobs' Snakemake benchmark files: rule, seconds, peak RSS (MiB)."""
    rows = []
    for rule in (*STEPS, "process_imager_l2"):
        for path in (workdir / OUTPUT_DIR / "benchmarks" / rule).rglob("*.tsv"):
            with open(path) as file:
                (row,) = csv.DictReader(file, delimiter="\t")
            # The unit of work the job belongs to: its frame (named by the file), or its batch of frames.
            rows.append(
                {
                    "rule": rule,
                    "unit": path.stem,
                    "s": float(row["s"]),
                    "max_rss_mib": float(row["max_rss"]),
                    "end": path.stat().st_mtime,  # Snakemake writes the file as the job ends
                }
            )
    return rows


def measure_mode(workdir, n_frames, mode):
    """Wall time of the night in one mode, its jobs' own times and memory, and Snakemake's overhead per job."""
    for name in (OBSERVATION, "benchmarks", "logs"):
        shutil.rmtree(workdir / OUTPUT_DIR / name, ignore_errors=True)
    # The L2b products only: raw -> L2b is what is measured (the quick-looks are not part of the chain).
    targets = [
        f"{OUTPUT_DIR}/{OBSERVATION}/{RAW_NAME.format(number)[:-5]}_cal.fits" for number in range(1, n_frames + 1)
    ]
    plan, _ = snakemake(workdir, *targets, *MODES[mode], "--dry-run", "--quiet")  # Snakemake's start-up: once a run
    wall, _ = snakemake(workdir, *targets, *MODES[mode])
    products = sorted((workdir / OUTPUT_DIR / OBSERVATION).glob("*_cal.fits"))
    if len(products) != n_frames:
        raise RuntimeError(f"{mode}: {len(products)} L2b products for {n_frames} frames")
    jobs = job_benchmarks(workdir)
    shutil.rmtree(workdir / OUTPUT_DIR / OBSERVATION)
    busy = sum(job["s"] for job in jobs)
    workers = min(2, len({job["unit"] for job in jobs}))
    overhead_per_job = idle_core_seconds(jobs, workers, wall - plan) / len(jobs)
    return {
        "frames": n_frames,
        "mode": mode,
        "wall_s": wall,
        "plan_s": plan,
        "per_frame_s": wall / n_frames,
        "jobs": len(jobs),
        "mean_job_s": busy / len(jobs),
        "overhead_per_job_s": overhead_per_job,
        "overhead_fraction": overhead_per_job / (busy / len(jobs)),
        "peak_rss_mib": max(job["max_rss_mib"] for job in jobs),
    }


def idle_core_seconds(jobs, workers, run_s):
    """Snakemake's own overhead in core-seconds: the time a core stood idle while a job was ready for it,
    from the jobs' actual intervals (``end - s``, ``end``), plus the run's time (``run_s``, the wall time
    beyond the start-up) outside the first job's start and the last job's end, on every core.

    A job is ready once the previous job of its unit (a frame's chain, a batch) has ended; a core is idle
    from the end of its last job. So neither a chain waiting on itself nor the last jobs of a night that
    leave a core without work count: those are the plan's shape, not Snakemake's overhead."""
    first_start = min(job["end"] - job["s"] for job in jobs)
    free = [first_start] * workers
    ready = {}
    idle = 0.0
    for job in sorted(jobs, key=lambda job: job["end"] - job["s"]):
        start = job["end"] - job["s"]
        core_free = heapq.heappop(free)
        idle += max(0.0, start - max(core_free, ready.get(job["unit"], first_start)))
        heapq.heappush(free, job["end"])
        ready[job["unit"]] = job["end"]
    outside = max(0.0, run_s - (max(job["end"] for job in jobs) - first_start))
    return idle + workers * outside


def scaling(scratch, written, frame_counts, fused_only_above):
    """Each mode's measurement on each frame count, as it completes; above ``fused_only_above`` frames only
    the fused rule (the per-step modes cost four jobs per frame)."""
    for n_frames in frame_counts:
        workdir = scratch / f"night_{n_frames}"
        night(workdir, written, n_frames)
        for mode in MODES:
            if fused_only_above and n_frames > fused_only_above and not mode.startswith("fused"):
                continue
            row = measure_mode(workdir, n_frames, mode)
            print(json.dumps(row), flush=True)
            yield row
        shutil.rmtree(workdir)


PER_FRAME_RULES = (*STEPS, "quicklook")
#: Jobs of the default target besides the frames': the night summary, the benchmark table and ``all``.
NIGHT_RULES = ("night_summary", "benchmark_table", "all")


def job_stats(output):
    """{rule: jobs} of the "Job stats" table that ``snakemake -n`` prints first."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = {}
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


#: The CRDS context of the dry-run night, which its selection table records.
DRY_RUN_CONTEXT = "ligeriri_0001.pmap"
#: The fused chain in batches, as ``--config`` arguments.
BATCHED = ("--config", "fused_chain=True", f"frames_per_job={single.BATCH_FRAMES}")


def dry_run_night(workdir, n_frames, repository=REPOSITORY):
    """A workflow copy of ``repository`` in ``workdir`` with ``n_frames`` placeholder frames, their references in
    the CRDS cache and a current selection table (written after the frames and the selection's context marker),
    so that its dry run plans the default target's jobs (every frame's four step jobs and quick-look, the night
    summary, the benchmark table and ``all``) and no selection."""
    from liger_iris_pipeline.workflow.selection import mark_context

    workflow_copy(
        workdir,
        {
            "output_dir": OUTPUT_DIR,
            "crds": {"store": "store", "context": DRY_RUN_CONTEXT, "cache": "crds_cache"},
            "observations": [{"name": OBSERVATION, "instrument": "IRIS", "raw": [RAW_PATTERN]}],
            "calibrations": [],
        },
        repository,
    )
    (workdir / "raw").mkdir()
    references = {reftype: f"IRIS_IMG1_{reftype.upper()}_20200101T000000_1.fits" for reftype in ("mask", "dark", "flat")}
    cache = workdir / "crds_cache" / "references" / "ligeriri"
    cache.mkdir(parents=True)
    for name in references.values():
        (cache / name).write_text("placeholder\n")
    frames = [f"raw/{RAW_NAME.format(number)}" for number in range(1, n_frames + 1)]
    for frame in frames:
        (workdir / frame).write_text("placeholder\n")
    table = workdir / OUTPUT_DIR / "crds" / "bestrefs.json"
    # The marker of the selection's context (an input of the selection, rules/common.smk's SELECTION_MARKER), which
    # a workflow that has one writes when it is missing; a workflow without one ignores the file.
    mark_context(workdir / OUTPUT_DIR / "crds" / "context.json", table, DRY_RUN_CONTEXT)
    table.write_text(json.dumps({"context": DRY_RUN_CONTEXT, "bestrefs": dict.fromkeys(frames, references)}))


def planned_jobs(workdir, n_frames, *args, repository=REPOSITORY, timeout=None):
    """Seconds and {rule: jobs} of ``snakemake --dry-run`` of the dry-run night of ``n_frames`` frames in
    ``workdir`` (``args`` added: a scheduler, ``BATCHED``); raises unless the plan is the default target's."""
    seconds, completed = snakemake(workdir, "--dry-run", *args, timeout=timeout, repository=repository)
    counts = job_stats(completed.stdout)
    per_rule = {rule: count for rule, count in counts.items() if rule != "total"}
    if "fused_chain=True" in args:  # batches: a chain job and a quick-look job per batch, each of a rule of its own
        families = {}
        for rule, count in per_rule.items():
            family = next((name for name in ("process_imager_l2", "quicklook") if rule.startswith(f"{name}_")), rule)
            families[family] = families.get(family, 0) + count
        per_rule = families
        batches = -(-n_frames // single.BATCH_FRAMES)
        expected = {"process_imager_l2": batches, "quicklook": batches, **dict.fromkeys(NIGHT_RULES, 1)}
    else:
        expected = {**dict.fromkeys(PER_FRAME_RULES, n_frames), **dict.fromkeys(NIGHT_RULES, 1)}
    if per_rule != expected:
        raise RuntimeError(f"dry run in {workdir}: the plan is not the default target's: {counts}")
    return seconds, counts


def dry_run(scratch, n_frames, repeat, ilp_timeout):
    """Seconds of ``snakemake -n`` of the dry-run night of ``n_frames`` frames (``dry_run_night``) with the greedy
    and the ILP scheduler, its first run apart (which checks the steps' parameters; later runs find the check
    remembered); the same night with the fused chain in batches of 10 frames; and Snakemake's own floor for a plan
    of that shape."""
    workdir = scratch / "dry_run"
    dry_run_night(workdir, n_frames)
    first_s, counts = planned_jobs(workdir, n_frames, "--scheduler", "greedy")
    greedy = [planned_jobs(workdir, n_frames, "--scheduler", "greedy")[0] for _ in range(repeat)]
    batched = [planned_jobs(workdir, n_frames, "--scheduler", "greedy", *BATCHED) for _ in range(repeat)]
    result = {
        "frames": n_frames,
        "jobs": counts["total"],
        "jobs_by_rule": counts,
        "first_greedy_s": first_s,
        "greedy_s": statistics.median(greedy),
        "batched_jobs": batched[0][1]["total"],
        "batched_greedy_s": statistics.median(seconds for seconds, _ in batched),
    }
    try:
        result["ilp_s"] = planned_jobs(workdir, n_frames, "--scheduler", "ilp", timeout=ilp_timeout)[0]
    except subprocess.TimeoutExpired:
        result["ilp_s"] = None
        result["ilp_timeout_s"] = ilp_timeout
    shutil.rmtree(workdir)
    for design, directives, checkpoint in FLOORS:
        floor_dir = scratch / "dry_run_floor"
        trivial_workflow(floor_dir, n_frames, directives, checkpoint)
        result[design] = statistics.median(
            snakemake(floor_dir, "--dry-run", "--scheduler", "greedy")[0] for _ in range(repeat)
        )
        shutil.rmtree(floor_dir)
    return result


#: Snakemake's floors of a dry run: (result key, the rules' directives, every job asks a checkpoint).
FLOORS = (
    ("floor_s", "shell", False),
    ("floor_script_s", "script", False),
    ("floor_checkpoint_s", "script", True),
)


def trivial_workflow(directory, n_frames, directives, checkpoint):
    """A Snakefile of the plan's shape (five chained rules a frame, and all) with trivial rules. Their
    ``directives``: "shell", a shell command and nothing else; "script", the directives of the workflow's
    step rules (a Python script, a conda environment file, a params function, resource functions). With
    ``checkpoint``, every job asks one checkpoint's output, as the workflow's do for the CRDS selection.
    The same garbage-collector settings as the workflow's."""
    (directory / "raw").mkdir(parents=True)
    (directory / "touch.py").write_text("open(snakemake.output[0], 'w').close()\n")
    shutil.copy(REPOSITORY / "envs" / "steps.yaml", directory / "drs.yaml")
    for number in range(n_frames):
        (directory / "raw" / f"{number:04d}.txt").write_text("x")
    (directory / "selection").mkdir()
    (directory / "selection" / "table.json").write_text("{}")  # written after the frames: current
    gate = "checkpoints.select.get(); " if checkpoint else ""
    rules = [
        "from liger_iris_pipeline.workflow.garbage_collection import tune_garbage_collection",
        "tune_garbage_collection()",
        f"FRAMES = [f'{{number:04d}}' for number in range({n_frames})]",
        "rule all:\n    input: expand('out/{frame}_5', frame=FRAMES)",
        "checkpoint select:\n    input: expand('raw/{frame}.txt', frame=FRAMES)\n    output: 'selection/table.json'"
        "\n    shell: 'touch {output}'",
        f"def selected(wildcards):\n    {gate}return []",
    ]
    body = {
        "shell": "    shell: 'touch {output}'",
        "script": "    conda: 'drs.yaml'\n    params: frame=lambda wildcards: wildcards.frame\n"
        "    resources: mem_mb=lambda wildcards, attempt: 100 * attempt,"
        " runtime=lambda wildcards, attempt: attempt\n    script: 'touch.py'",
    }[directives]
    for step in range(1, 6):
        source = "raw/{frame}.txt" if step == 1 else f"out/{{frame}}_{step - 1}"
        rules.append(
            f"rule step{step}:\n    input: '{source}', selected\n    output: 'out/{{frame}}_{step}'"
            f"\n    log: 'logs/{step}/{{frame}}.log'\n{body}"
        )
    (directory / "Snakefile").write_text("\n".join(rules) + "\n")


def jwst_reference(jwst_python, scratch, written, repeat):
    """jwst's FlatFieldStep and DarkCurrentStep on the same arrays, each file to file in a fresh process."""
    script = BENCHMARKS / "jwst_steps.py"
    work = scratch / "jwst"
    subprocess.run(
        [jwst_python, script, "prepare", written.raw[0], written.dark, written.flat, work], check=True, capture_output=True
    )
    rows = {}
    for step in ("dark_current", "flat_field"):

        def measure(step=step):
            began = time.perf_counter()
            completed = subprocess.run([jwst_python, script, "run", step, work], capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                raise RuntimeError(f"jwst {step} failed:\n{completed.stderr[-3000:]}")
            timings = json.loads(completed.stdout.strip().splitlines()[-1])
            timings["process_s"] = time.perf_counter() - began
            return timings

        runs = [measure() for _ in range(repeat)]
        rows[f"jwst {step}"] = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "jwst"}
        rows[f"jwst {step}"]["jwst"] = runs[0]["jwst"]
    shutil.rmtree(work)
    return rows


def verdict(met):
    return "met" if met else "**not met**"


def markdown(result):
    """The results as Markdown: the single frame's and the Snakemake runs' tables, the dry run and the targets, of
    the parts measured."""
    info = result["machine"]
    subject = f"{result['size']}x{result['size']} IRIS frames" if "floor" in result else "Dry run of the workflow"
    lines = [
        f"{subject}, {info['date']}, {info['cpus']} cores, {info['memory_gib']} GiB, "
        f"Python {info['python']}, numpy {info['numpy']}, snakemake {info['snakemake']}, "
        f"liger_iris_pipeline {info['liger_iris_pipeline']}; medians of {result['repeat']} runs; load average "
        f"{info.get('load_average', 'unknown')} at the start; compare rows of one run.",
    ]
    if "floor" in result:
        lines += frame_lines(result)
    if result.get("snakemake"):
        lines += workflow_lines(result["snakemake"])
    if result.get("dry_run"):
        lines += ["", dry_run_sentence(result["dry_run"])]
    lines += ["", "| target (issue 9) | measured | |", "|---|---|---|", *target_rows(result)]
    return "\n".join(lines) + "\n"


def frame_lines(result):
    """The machine's floor and the table of one frame's jobs, and the batch in one process."""
    fl, chain = result["floor"], result["jobs"]
    lines = [
        "",
        f"Machine: disk {result['disk']['write_mib_s']:.0f} MiB/s write (fsync), {result['disk']['read_mib_s']:.0f} MiB/s "
        f"read (uncached); memory {result['memory']['copy_mib_s']:.0f} MiB/s (numpy copy, read + write). "
        f"Floor of one frame: {fl['read_mib']:.0f} MiB read + {fl['written_mib']:.0f} MiB written at disk speed "
        f"({fl['disk_s']:.2f} s) + one pass over {fl['array_mib']:.0f} MiB of arrays ({fl['memory_s']:.2f} s) = "
        f"**{fl['total_s']:.2f} s**.",
        "",
        "| one frame, raw -> L2b | process wall [s] | imports [s] | read [s] | compute [s] | write [s] | peak RSS [MiB] |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in chain.items():
        lines.append(
            f"| {name} | {row['process_s']:.2f} | {row['import_s']:.2f} | {row['read_s']:.2f} | "
            f"{row['compute_s']:.2f} | {row['write_s']:.2f} | {row['peak_rss_mib']:.0f} |"
        )
    batch, batch_floor = result.get("batch"), result.get("batch_floor")
    if batch:
        lines += [
            "",
            single.batch_sentence(batch) + f" Its floor per frame (the references read once for "
            f"{single.BATCH_FRAMES} frames): {batch_floor['read_mib']:.0f} MiB read + {batch_floor['written_mib']:.0f} "
            f"MiB written ({batch_floor['disk_s']:.2f} s) + {batch_floor['array_mib']:.0f} MiB of arrays "
            f"({batch_floor['memory_s']:.2f} s) = **{batch_floor['total_s']:.2f} s**.",
        ]
    return lines


def workflow_lines(workflow):
    """The table of the Snakemake runs."""
    lines = [
        "",
        "| Snakemake, --cores 2 | frames | wall [s] | per frame [s] | jobs | mean job [s] | start-up [s] | "
        "overhead per job [s] | overhead | peak RSS per job [MiB] |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in workflow:
        lines.append(
            f"| {row['mode']} | {row['frames']} | {row['wall_s']:.1f} | {row['per_frame_s']:.2f} | {row['jobs']} | "
            f"{row['mean_job_s']:.2f} | {row['plan_s']:.1f} | {row['overhead_per_job_s']:.2f} | "
            f"{100 * row['overhead_fraction']:.0f}% | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    return lines


def dry_run_sentence(dry):
    ilp = f"{dry['ilp_s']:.1f} s" if dry.get("ilp_s") is not None else f"> {dry.get('ilp_timeout_s')} s (stopped)"
    first = ""
    if "first_greedy_s" in dry:  # measured since the workflow checks the steps' parameters in its first dry run
        first = f" (its first run, which checks the steps' parameters, {dry['first_greedy_s']:.1f} s)"
    return (
        f"Dry run of {dry['frames']} frames ({dry['jobs']} jobs): greedy scheduler {dry['greedy_s']:.1f} s{first}, "
        f"ILP {ilp}; with the fused chain in batches of {single.BATCH_FRAMES} frames ({dry['batched_jobs']} jobs) "
        f"{dry['batched_greedy_s']:.1f} s. Snakemake's own floor for {dry['jobs']} jobs of that shape (trivial "
        f"rules, the same garbage-collector settings): {dry['floor_s']:.1f} s with shell commands, "
        f"{dry['floor_script_s']:.1f} s with our step rules' directives (script, conda, params, resources), "
        f"and {dry['floor_checkpoint_s']:.1f} s when every job also asks one checkpoint's output, as the "
        "workflow's do for the CRDS selection."
    )


def target_rows(result):
    """The rows of the targets of issue 9 that the measured parts tell."""
    rows = []
    chain, workflow, dry = result.get("jobs"), result.get("snakemake", []), result.get("dry_run")
    if chain:
        fl, pipeline = result["floor"], chain["pipeline (one process)"]
        ratio = pipeline["process_s"] / fl["total_s"]
        rows.append(
            f"| fused chain within {TARGET_FLOOR_RATIO:.0f}x of the floor: one frame per process | {ratio:.1f}x "
            f"({pipeline['process_s']:.2f} s / {fl['total_s']:.2f} s) | {verdict(ratio <= TARGET_FLOOR_RATIO)} |"
        )
        batch, batch_floor = result.get("batch"), result.get("batch_floor")
        if batch:
            batch_ratio = batch["frame_s"] / batch_floor["total_s"]
            rows.append(
                f"| fused chain within {TARGET_FLOOR_RATIO:.0f}x of the floor: a frame of a "
                f"{single.BATCH_FRAMES}-frame batch | {batch_ratio:.1f}x ({batch['frame_s']:.2f} s / {batch_floor['total_s']:.2f} s) | "
                f"{verdict(batch_ratio <= TARGET_FLOOR_RATIO)} |"
            )
        ours = [row for name, row in chain.items() if not name.startswith("jwst")]
        peak = max([row["peak_rss_mib"] for row in workflow] + [row["peak_rss_mib"] for row in ours])
        rows.append(f"| peak memory per frame job < 1.5 GB | {peak:.0f} MiB | {verdict(peak < TARGET_PEAK_MIB)} |")
    if workflow:
        largest = max(row["frames"] for row in workflow)
        at_largest = [row for row in workflow if row["frames"] == largest]
        worst_overhead = max(row["overhead_fraction"] for row in at_largest)
        for fused in (row for row in at_largest if row["mode"].startswith("fused")):
            rows.append(
                f"| {fused['mode']}, < {TARGET_FRAME_SECONDS} s per frame at N = {largest}, --cores 2 | "
                f"{fused['per_frame_s']:.2f} s | {verdict(fused['per_frame_s'] < TARGET_FRAME_SECONDS)} |"
            )
        rows.append(
            f"| Snakemake overhead per job < {100 * TARGET_OVERHEAD:.0f}% at N = {largest} | at most "
            f"{100 * worst_overhead:.0f}% ({', '.join(row['mode'] for row in at_largest)}) "
            f"| {verdict(worst_overhead < TARGET_OVERHEAD)} |"
        )
    if dry:
        rows.append(
            f"| dry run of {dry['frames']} frames < {TARGET_DRY_RUN_SECONDS:.0f} s (greedy), per-step rules | "
            f"{dry['greedy_s']:.1f} s | {verdict(dry['greedy_s'] < TARGET_DRY_RUN_SECONDS)} |"
        )
        rows.append(
            f"| dry run of {dry['frames']} frames < {TARGET_DRY_RUN_SECONDS:.0f} s (greedy), fused in batches of "
            f"{single.BATCH_FRAMES} | {dry['batched_greedy_s']:.1f} s | "
            f"{verdict(dry['batched_greedy_s'] < TARGET_DRY_RUN_SECONDS)} |"
        )
    return rows


def machine():
    """The machine and versions (``bench_imager_l2.machine``), Snakemake's included."""
    import snakemake

    return {**single.machine(), "snakemake": snakemake.__version__}


def frame_counts(text):
    return [int(count) for count in text.split(",") if count.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames",
        type=frame_counts,
        default=frame_counts(os.environ.get("BENCH_FRAMES", "1,10,50")),
        help="frame counts of the Snakemake runs (default: $BENCH_FRAMES or 1,10,50)",
    )
    parser.add_argument("--size", type=int, default=4096, help="frame size in pixels (default 4096)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per single-frame measurement (median reported)")
    parser.add_argument("--dry-run-frames", type=int, default=2000, help="frames of the dry run (default 2000)")
    parser.add_argument("--ilp-timeout", type=float, default=120, help="seconds before the ILP dry run is stopped")
    parser.add_argument("--disk-probe-mib", type=int, default=1024, help="size of the disk bandwidth probe file")
    parser.add_argument("--jwst-python", help="python of an environment with jwst (benchmarks/jwst-constraints.txt)")
    parser.add_argument(
        "--fused-only-above", type=int, default=0, help="above this many frames run only the fused rule (0: all modes)"
    )
    parser.add_argument("--output-dir", type=Path, default=BENCHMARKS / "results")
    parser.add_argument(
        "--only",
        choices=["dry-run"],
        help="measure this part alone, into workflow_scale_<part>.md and .json (dry-run: the dry run of "
        "--dry-run-frames frames and Snakemake's floors, a few minutes)",
    )
    args = parser.parse_args()

    result = {"repeat": args.repeat, "machine": machine()}
    name = f"workflow_scale_{args.only.replace('-', '_')}" if args.only else "workflow_scale"

    def save():
        """Write the results so far: an interrupted run still leaves what it measured."""
        args.output_dir.mkdir(parents=True, exist_ok=True)
        (args.output_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (args.output_dir / f"{name}.md").write_text(markdown(result))

    with tempfile.TemporaryDirectory(prefix="bench_workflow_scale_", dir=os.environ.get("BENCH_SCRATCH")) as scratch:
        scratch = Path(scratch)
        if args.only == "dry-run":
            result["dry_run"] = dry_run(scratch, args.dry_run_frames, args.repeat, args.ilp_timeout)
            save()
            print(markdown(result))
            return
        result["size"] = args.size
        written, result["simulate_s"] = single.simulate(scratch / "raw", args.size)
        result["disk"] = disk_bandwidth(scratch, args.disk_probe_mib, args.repeat)
        result["memory"] = memory_bandwidth(256, args.repeat)
        result["jobs"] = single.measure_chain(written, scratch, args.repeat)
        output = next(scratch.glob("*_pipeline_cal.fits"))
        inputs = [written.raw[0], written.mask, written.dark, written.flat]
        result["floor"] = floor(inputs, output, result["disk"], result["memory"])
        result["batch"] = single.measure_batch(written, scratch, args.repeat)
        result["batch_floor"] = floor(inputs, output, result["disk"], result["memory"], single.BATCH_FRAMES)
        save()
        if args.jwst_python:
            result["jobs"].update(jwst_reference(args.jwst_python, scratch, written, args.repeat))
            save()
        result["dry_run"] = dry_run(scratch, args.dry_run_frames, args.repeat, args.ilp_timeout)
        save()
        result["snakemake"] = []
        for row in scaling(scratch, written, args.frames, args.fused_only_above):
            result["snakemake"].append(row)
            save()
    print(markdown(result))


if __name__ == "__main__":
    main()
