"""Cost of Detector1 on one 4096x4096 x 10-group ramp, beside stcal's OLS_C ramp fitting of the same cube.

Every measurement runs in a fresh process, so peak memory (ru_maxrss) is that job's own:
- ``detector1``: Detector1Pipeline file to file (dq_init, saturation, nonlinearity, jump, ramp_fit), with
  its import, compute (reading the ramp and the references included) and write seconds;
- ``ramp_fit``: our ramp fit alone (``fit_ramps``) on the cube after saturation, nonlinearity and jump
  flagging, and ``stcal OLS_C`` (``ramp_fit_data``, optimal weighting) on the same cube in the same run,
  with ``maximum_cores`` '1' and 'all' (for 'all', the peak of its worker processes too).
Numba's compiled kernels are cached on disk by a small warm-up run first, as after a workflow's first job.

    python benchmarks/bench_detector1.py [--size 4096] [--ngroups 10] [--repeat 1] [--output-dir benchmarks/results]

Writes ``detector1.md`` (shown on docs/performance.rst) and ``detector1.json`` to the output directory.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench_imager_l2 import best_of, machine, run_script_worker, write_results

REFTYPES = ("mask", "saturation", "nonlinearity", "readnoise", "gain")


def peak_rss_mib():
    """This process's peak resident memory since it started (VmHWM). Not ru_maxrss: that keeps the RSS the
    parent had when it forked this process, and the benchmark's parent holds a ramp."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def cpu_seconds():
    """CPU seconds (user + system) used so far by this process and its finished children: on a shared
    machine, a measure of the work done that the other jobs' load does not inflate as much as wall time."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def children_peak_rss_mib():
    """The largest peak RSS of this process's finished children (stcal's workers), counting the pages
    they share with this process."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def detector1_worker(ramp, output, references):
    """Detector1Pipeline file to file in this process, as a workflow job runs it (the pipeline reads the
    ramp itself: given a model, it would copy it to leave the caller's untouched); print its timings."""
    started = time.perf_counter()
    from liger_iris_pipeline import Detector1Pipeline

    imported, cpu = time.perf_counter(), cpu_seconds()
    result = Detector1Pipeline.call(str(ramp), steps=_overrides(references))
    computed, cpu = time.perf_counter(), cpu_seconds() - cpu
    result.save(output)
    written = time.perf_counter()
    return {
        "import_s": imported - started,
        "compute_s": computed - imported,
        "compute_cpu_s": cpu,
        "write_s": written - computed,
        "peak_rss_mib": peak_rss_mib(),
    }


def fit_worker(fitter, flagged, references):
    """One ramp fit (``ours`` or ``stcal:<maximum_cores>``) of the flagged ramp; print its timings as JSON."""
    import numpy as np

    from liger_iris_pipeline import datamodels
    from liger_iris_pipeline.dqflags import pixel

    ramp = datamodels.open(flagged)
    gain = datamodels.open(references["gain"]).data
    readnoise = datamodels.open(references["readnoise"]).data
    exposure = ramp.meta.exposure
    started, cpu = time.perf_counter(), cpu_seconds()
    if fitter == "ours":
        from liger_iris_pipeline.ramp_fitting.ols_fit import fit_ramps

        fit_ramps(ramp.data, ramp.groupdq, ramp.pixeldq, gain, readnoise, exposure.nframes, exposure.frame_time, exposure.group_time)
    else:
        from stcal.ramp_fitting.ramp_fit import ramp_fit_data
        from stcal.ramp_fitting.ramp_fit_class import RampData

        ramp_data = RampData()
        ramp_data.set_arrays(ramp.data, ramp.groupdq, ramp.pixeldq, np.zeros(ramp.pixeldq.shape, np.float32))
        ramp_data.set_meta(
            name="IRIS", frame_time=exposure.frame_time, group_time=exposure.group_time, groupgap=exposure.groupgap,
            nframes=exposure.nframes,
        )
        ramp_data.set_dqflags(pixel)
        ramp_data.start_row, ramp_data.num_rows = 0, ramp.data.shape[2]
        cores = fitter.split(":")[1]
        ramp_fit_data(ramp_data, False, readnoise, gain, "OLS_C", "optimal", cores)
    return {
        "compute_s": time.perf_counter() - started,
        "compute_cpu_s": cpu_seconds() - cpu,
        "peak_rss_mib": peak_rss_mib(),
        "children_peak_rss_mib": children_peak_rss_mib(),
    }


def _overrides(references, skip_fit=False):
    """Detector1Pipeline step parameters giving every reference by hand."""
    readout = {"override_gain": references["gain"], "override_readnoise": references["readnoise"]}
    steps = {
        "dq_init": {"override_mask": references["mask"]},
        "saturation": {"override_saturation": references["saturation"]},
        "nonlinearity": {"override_nonlinearity": references["nonlinearity"]},
        "jump": readout,
        "ramp_fit": {"skip": True} if skip_fit else readout,
    }
    return steps


def run_worker(*arguments):
    return run_script_worker(__file__, *arguments)


def simulate(directory, size, ngroups):
    """A simulated UTR ramp and its references; returns (ramp path, {reftype: path}, seconds)."""
    from liger_iris_pipeline.simulator import simulate_observation
    from liger_iris_pipeline.simulator.ramp import RampReadout

    began = time.perf_counter()
    readout = RampReadout("UTR", ngroups=ngroups, frame_time=10.0, cosmic_ray_fraction=1e-3)
    written = simulate_observation(directory, instrument="IRIS", size=size, seed=1, readout=readout)
    references = {"mask": str(written.mask), **{key: str(path) for key, path in written.ramp_references.items()}}
    return written.ramps[0], references, time.perf_counter() - began


def flag_ramp(ramp, references, output):
    """The ramp through saturation, nonlinearity and jump (the cube both ramp fits get)."""
    from liger_iris_pipeline import Detector1Pipeline

    Detector1Pipeline.call(str(ramp), steps=_overrides(references, skip_fit=True)).save(output)


def markdown(result):
    info = result["machine"]
    size, ngroups = result["size"], result["ngroups"]
    lines = [
        f"One {size}x{size} x {ngroups}-group ramp (SCI {result['ramp_mib']:.0f} MiB), {info['date']}, {info['cpus']} cores, "
        f"{info['memory_gib']} GiB, Python {info['python']}, numpy {info['numpy']}, stcal {result['stcal']}, "
        f"numba {result['numba']}; median of {result['repeat']} run(s), each in a fresh process, all in the same run.",
        "",
        "| job | process wall [s] | compute [s] | compute CPU [s] | peak RSS [MiB] | peak RSS / ramp |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["jobs"].items():
        peak = max(row["peak_rss_mib"], row.get("children_peak_rss_mib", 0))
        lines.append(
            f"| {name} | {row['process_s']:.2f} | {row['compute_s']:.2f} | {row['compute_cpu_s']:.2f} | {peak:.0f} | "
            f"{peak / result['ramp_mib']:.2f} |"
        )
    jobs = result["jobs"]
    fastest_name = min(
        ("stcal OLS_C, maximum_cores '1'", "stcal OLS_C, maximum_cores 'all'"), key=lambda name: jobs[name]["compute_s"]
    )
    fastest_stcal = jobs[fastest_name]["compute_s"]
    detector1 = jobs["Detector1Pipeline (file to file)"]
    lines += [
        "",
        f"Ramp fit: ours {jobs['ramp_fit (ours)']['compute_s']:.2f} s, stcal's fastest {fastest_stcal:.2f} s "
        f"({fastest_stcal / jobs['ramp_fit (ours)']['compute_s']:.1f}x). The whole of Detector1 (dq_init, saturation, "
        f"nonlinearity, jump and ramp_fit), reading the ramp and its references included, takes "
        f"{detector1['compute_s']:.2f} s ({detector1['compute_cpu_s']:.2f} CPU s); stcal's fastest ramp fit alone "
        f"{fastest_stcal:.2f} s ({jobs[fastest_name]['compute_cpu_s']:.2f} CPU s): a speed ratio of "
        f"{fastest_stcal / detector1['compute_s']:.2f} in wall time, "
        f"{jobs[fastest_name]['compute_cpu_s'] / detector1['compute_cpu_s']:.2f} in CPU time. "
        f"Detector1 job: "
        f"imports {detector1['import_s']:.2f} s, write {detector1['write_s']:.2f} s. "
        f"Simulating the ramp: {result['simulate_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="ramp size in pixels (default 4096)")
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (median reported)")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    import numba
    import stcal

    with tempfile.TemporaryDirectory(prefix="bench_detector1_") as scratch:
        scratch = Path(scratch)
        small, small_references, _ = simulate(scratch / "warm-up", 64, args.ngroups)
        run_worker("detector1", small, scratch / "warm-up_raw.fits", json.dumps(small_references))
        ramp, references, simulate_seconds = simulate(scratch / "raw", args.size, args.ngroups)
        flagged = scratch / "flagged_jump.fits"
        flag_ramp(ramp, references, flagged)
        output = scratch / "ramp_raw.fits"
        reference_json = json.dumps(references)
        jobs = {"Detector1Pipeline (file to file)": best_of(args.repeat, lambda: run_worker("detector1", ramp, output, reference_json))}
        for name, fitter in (
            ("ramp_fit (ours)", "ours"),
            ("stcal OLS_C, maximum_cores '1'", "stcal:1"),
            ("stcal OLS_C, maximum_cores 'all'", "stcal:all"),
        ):
            jobs[name] = best_of(args.repeat, lambda fitter=fitter: run_worker("fit", fitter, flagged, reference_json))
    result = {
        "size": args.size,
        "ngroups": args.ngroups,
        "ramp_mib": args.size * args.size * args.ngroups * 4 / 2**20,
        "repeat": args.repeat,
        "machine": machine(),
        "stcal": stcal.__version__,
        "numba": numba.__version__,
        "simulate_s": simulate_seconds,
        "jobs": jobs,
    }
    write_results(args.output_dir, "detector1", result, markdown(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, *rest = sys.argv[2:]
        if kind == "detector1":
            timings = detector1_worker(rest[0], rest[1], json.loads(rest[2]))
        else:
            timings = fit_worker(rest[0], rest[1], json.loads(rest[2]))
        print(json.dumps(timings))
    else:
        main()
