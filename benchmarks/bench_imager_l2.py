"""Cost of reducing one 4096x4096 IRIS imager frame: each step file to file, the pipeline, and Python imports.

Each measurement runs in a fresh process, as a workflow job would, so peak memory (ru_maxrss) is that
job's own. Per process it reports the seconds spent importing, reading the input, computing (step run,
references included) and writing the output. The step-per-process chain and the one-process pipeline
are measured in the same run, so their ratio is meaningful on any machine.

    python benchmarks/bench_imager_l2.py [--size 4096] [--repeat 3] [--output-dir benchmarks/results]

Writes ``imager_l2.md`` (shown on docs/performance.rst) and ``imager_l2.json`` to the output directory.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

#: Frames of the batch measurement (``frames_per_job`` of a workflow job).
BATCH_FRAMES = 10
IMPORTS = ("numpy", "astropy.io.fits", "stdatamodels", "crds", "stpipe", "gwcs", "liger_iris_pipeline")
STEPS = (
    ("dq_init", "DQInitStep", "override_mask", "mask", "dqinit"),
    ("dark_current", "DarkCurrentStep", "override_dark", "dark", "dark"),
    ("flat_field", "FlatFieldStep", "override_flat", "flat", "flat"),
    ("assign_wcs", "AssignWcsStep", None, None, "cal"),
)


def worker(step_class, input_path, output_path, overrides):
    """Run one step or pipeline file to file in this process; print its timings as JSON."""
    started = time.perf_counter()
    import liger_iris_pipeline
    from liger_iris_pipeline import datamodels

    imported = time.perf_counter()
    model = datamodels.open(input_path)
    read = time.perf_counter()
    result = getattr(liger_iris_pipeline, step_class).call(model, **overrides)
    computed = time.perf_counter()
    result.save(output_path)
    print_timings(started, imported, read, computed, time.perf_counter())


def batch_worker(input_path, output_dir, overrides, n_frames):
    """The pipeline file to file on ``n_frames`` copies of a frame within ``batch()`` in this process, as a
    workflow job with ``frames_per_job`` runs it; print the import and first-frame seconds and the medians
    of the later frames' run (read and compute) and save seconds."""
    started = time.perf_counter()
    import liger_iris_pipeline
    from liger_iris_pipeline import ProcessImagerL2Pipeline

    imported = time.perf_counter()
    runs, saves = [], []
    with liger_iris_pipeline.batch():
        for number in range(int(n_frames)):
            began = time.perf_counter()
            result = ProcessImagerL2Pipeline.call(input_path, **overrides)
            computed = time.perf_counter()
            result.save(Path(output_dir) / f"batch_{number}_cal.fits")
            runs.append(computed - began)
            saves.append(time.perf_counter() - computed)
    later_run, later_save = statistics.median(runs[1:]), statistics.median(saves[1:])
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "first_frame_s": runs[0] + saves[0],
                "read_compute_s": later_run,
                "write_s": later_save,
                "frame_s": later_run + later_save,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def peak_rss_mib():
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss keeps the peak of
    the parent at fork (a benchmark holding large arrays would show as every worker's peak)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_timings(started, imported, read, computed, written, **extra):
    """Print a worker's phases (from ``time.perf_counter`` marks) and its peak RSS as one JSON line."""
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "read_s": read - imported,
                "compute_s": computed - read,
                "write_s": written - computed,
                "total_s": written - started,
                "peak_rss_mib": peak_rss_mib(),
                **extra,
            }
        )
    )


def run_worker(step_class, input_path, output_path, overrides):
    return run_script_worker(__file__, step_class, input_path, output_path, json.dumps(overrides))


def run_script_worker(script, *arguments):
    """Run ``script --worker arguments...`` in a fresh process; its last stdout line (JSON timings) plus
    the process's wall time."""
    command = [sys.executable, str(script), "--worker", *map(str, arguments)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{arguments[0]} failed:\n{completed.stderr[-2000:]}")
    timings = json.loads(completed.stdout.strip().splitlines()[-1])
    timings["process_s"] = time.perf_counter() - started
    return timings


def best_of(repeat, measure):
    """Per key, the median over ``repeat`` runs (less noisy than the mean on a shared machine)."""
    runs = [measure() for _ in range(repeat)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def import_costs(repeat):
    """Seconds to start Python and to import each module, each in a fresh interpreter."""
    def start():
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return {"seconds": time.perf_counter() - began}

    costs = {"python start-up": best_of(repeat, start)["seconds"]}
    for module in IMPORTS:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"

        def measure(code=code):
            output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            return {"seconds": float(output)}

        costs[f"import {module}"] = best_of(repeat, measure)["seconds"]
    return costs


def simulate(directory, size):
    from liger_iris_pipeline.simulator import simulate_observation

    began = time.perf_counter()
    written = simulate_observation(directory, instrument="IRIS", size=size, seed=1)
    return written, time.perf_counter() - began


def measure_chain(written, work, repeat):
    references = {"mask": written.mask, "dark": written.dark, "flat": written.flat}
    raw = Path(written.raw[0])
    rows = {}
    current = raw
    for alias, step_class, override, reftype, suffix in STEPS:
        overrides = {override: str(references[reftype])} if override else {}
        output = work / raw.name.replace(".fits", f"_{suffix}.fits")
        rows[alias] = best_of(repeat, lambda: run_worker(step_class, current, output, overrides))
        current = output
    pipeline_overrides = {
        "steps": {alias: {override: str(references[reftype])} for alias, _, override, reftype, _ in STEPS if override}
    }
    output = work / raw.name.replace(".fits", "_pipeline_cal.fits")
    rows["pipeline (one process)"] = best_of(
        repeat, lambda: run_worker("ProcessImagerL2Pipeline", raw, output, pipeline_overrides)
    )
    return rows


def measure_batch(written, work, repeat, n_frames=BATCH_FRAMES):
    """The pipeline on ``n_frames`` frames in one process within ``batch()`` (``batch_worker``)."""
    overrides = {
        "steps": {alias: {override: str(written_reference)} for alias, override, written_reference in (
            ("dq_init", "override_mask", written.mask),
            ("dark_current", "override_dark", written.dark),
            ("flat_field", "override_flat", written.flat),
        )}
    }
    (work / "batch").mkdir(exist_ok=True)

    def measure():
        return run_script_worker(__file__, "batch", written.raw[0], work / "batch", json.dumps(overrides), n_frames)

    return best_of(repeat, measure)


def machine():
    import numpy

    import liger_iris_pipeline

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "liger_iris_pipeline": liger_iris_pipeline.__version__,
        # Other work on the machine when the benchmark started: 1-minute load average.
        "load_average": round(os.getloadavg()[0], 2),
    }


def markdown(result):
    info = result["machine"]
    lines = [
        f"One {result['size']}x{result['size']} IRIS frame, {info['date']}, {info['cpus']} cores, "
        f"{info['memory_gib']} GiB, Python {info['python']}, numpy {info['numpy']}, "
        f"liger_iris_pipeline {info['liger_iris_pipeline']}; median of {result['repeat']} runs, "
        f"each job in a fresh process.",
        "",
        "| job | process wall [s] | imports [s] | read [s] | compute [s] | write [s] | peak RSS [MiB] |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["jobs"].items():
        lines.append(
            f"| {name} | {row['process_s']:.2f} | {row['import_s']:.2f} | {row['read_s']:.2f} | "
            f"{row['compute_s']:.2f} | {row['write_s']:.2f} | {row['peak_rss_mib']:.0f} |"
        )
    steps_total = sum(result["jobs"][alias]["process_s"] for alias, *_ in STEPS)
    pipeline_total = result["jobs"]["pipeline (one process)"]["process_s"]
    lines += [
        "",
        f"Four step processes: {steps_total:.2f} s; one pipeline process: {pipeline_total:.2f} s "
        f"(ratio {steps_total / pipeline_total:.2f}). Simulating the frame: {result['simulate_s']:.1f} s.",
        "",
        batch_sentence(result["batch"]),
        "",
        "| start-up and imports (fresh interpreter) | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in result["imports"].items()]
    return "\n".join(lines) + "\n"


def batch_sentence(batch):
    """What ``measure_batch`` measured, in words."""
    return (
        f"The pipeline on {BATCH_FRAMES} frames in one process within `batch()` (a workflow job with "
        f"`frames_per_job: {BATCH_FRAMES}`): imports {batch['import_s']:.2f} s once, the first frame "
        f"{batch['first_frame_s']:.2f} s, each later frame {batch['frame_s']:.2f} s (read and compute "
        f"{batch['read_compute_s']:.2f} s, save {batch['write_s']:.2f} s); peak RSS {batch['peak_rss_mib']:.0f} MiB."
    )


def parse_arguments(doc):
    """--size, --repeat and --output-dir, shared by the benchmark scripts."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="frame size in pixels (default 4096)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args()


def write_results(output_dir, name, result, table):
    """Write ``<name>.json`` and the Markdown ``<name>.md`` to ``output_dir`` and print the table."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (output_dir / f"{name}.md").write_text(table)
    print(table)


def main():
    args = parse_arguments(__doc__)

    with tempfile.TemporaryDirectory(prefix="bench_imager_l2_") as scratch:
        scratch = Path(scratch)
        written, simulate_seconds = simulate(scratch / "raw", args.size)
        jobs = measure_chain(written, scratch, args.repeat)
        batch = measure_batch(written, scratch, args.repeat)
    result = {
        "size": args.size,
        "repeat": args.repeat,
        "machine": machine(),
        "simulate_s": simulate_seconds,
        "jobs": jobs,
        "batch": batch,
        "imports": import_costs(args.repeat),
    }
    write_results(args.output_dir, "imager_l2", result, markdown(result))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1:3] == ["--worker", "batch"]:
        batch_worker(sys.argv[3], sys.argv[4], json.loads(sys.argv[5]), sys.argv[6])
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
    else:
        main()
