"""Latency of the real-time watcher (issue 20): a simulated readout lands 4096x4096 IRIS frames at a cadence.

    python benchmarks/bench_watch.py [--size 4096] [--frames 12] [--cadence 5] [--burst 10] [--output-dir benchmarks/results]

A frame is simulated once (with its mask, dark and flat in a reference store); the readout renames copies of it
into the watched directory, one every ``--cadence`` seconds, then ``--burst`` of them at once. The latency of a
frame is from its rename to its ``_cal`` product written (the product's modification time); the ledger gives
each frame's wait, reduction (reference selection, read, compute, write) and quick-look. Writes ``watch.md`` and
``watch.json``.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from bench_imager_l2 import machine, write_results

REPOSITORY = Path(__file__).resolve().parent.parent


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--frames", type=int, default=12, help="frames landing at the cadence")
    parser.add_argument("--cadence", type=float, default=5.0, help="seconds between frames")
    parser.add_argument("--burst", type=int, default=10, help="frames landing at once afterwards")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args()


def night(scratch, size):
    """A simulated frame, its store and the watcher's config; (frame, config path)."""
    from liger_iris_pipeline.reference_store import add_references
    from liger_iris_pipeline.simulator import simulate_observation

    simulated = simulate_observation(scratch / "source", size=size, n_exposures=1, seed=61)
    add_references(scratch / "store", [simulated.mask, simulated.dark, simulated.flat])
    (scratch / "raw").mkdir()
    config = {
        "output_dir": str(scratch / "results"),
        "crds": {"store": str(scratch / "store"), "context": None, "cache": str(scratch / "cache")},
        "observations": [{"name": "field", "instrument": "IRIS", "raw": [str(scratch / "raw" / "*_SCI_LVL1_*.fits")]}],
    }
    path = scratch / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return simulated.raw[0], path


def land(frame, raw, name):
    """Write the frame beside, rename it in; the time of the rename."""
    temporary = raw / f".{name}.part"
    shutil.copyfile(frame, temporary)
    os.rename(temporary, raw / name)
    return time.time()


def wait_for_done(lines, count):
    seen = 0
    while seen < count:
        line = lines.readline()
        if not line:
            raise RuntimeError("the watcher ended")
        seen += json.loads(line)["event"] in ("done", "failed")


def measure(args, scratch):
    frame, config = night(scratch, args.size)
    raw = scratch / "raw"
    with open(scratch / "watcher.log", "w") as log:
        watcher = subprocess.Popen(
            [str(Path(sys.executable).with_name("liger-iris-watch")), "--configfile", str(config), "--workflow-dir",
             str(REPOSITORY)], stdout=subprocess.PIPE, stderr=log, text=True,
        )
    try:
        while json.loads(watcher.stdout.readline())["event"] != "watching":
            pass
        landed = {}
        names = [f"2027A-P001-001_IRIS_IMG1_SCI_LVL1_{number:04d}.fits" for number in range(1, args.frames + args.burst + 1)]
        # The cadence: the readout sleeps between frames (the instrument's pace, not a synchronisation).
        for name in names[: args.frames]:
            landed[name] = land(frame, raw, name)
            time.sleep(args.cadence)
        wait_for_done(watcher.stdout, args.frames)
        burst_started = time.time()
        for name in names[args.frames :]:
            landed[name] = land(frame, raw, name)
        wait_for_done(watcher.stdout, args.burst)
        burst_s = time.time() - burst_started
    finally:
        watcher.terminate()
        watcher.wait()
    products = scratch / "results" / "watch" / "field"
    latency = {name: (products / f"{name[:-5]}_cal.fits").stat().st_mtime - landed[name] for name in names}
    rows = sqlite3.connect(scratch / "results" / "watch" / "ledger.sqlite").execute(
        "SELECT path, completed, started, reduced, finished FROM frames WHERE state = 'done'"
    ).fetchall()
    phases = {Path(path).name: (completed, started, reduced, finished) for path, completed, started, reduced, finished in rows}
    steady = names[: args.frames]
    burst = names[args.frames :]
    order = sorted(burst, key=lambda name: phases[name][3])
    return {
        "steady_latency_s": [latency[name] for name in steady],
        "burst_latency_s": [latency[name] for name in burst],
        "burst_drain_s": burst_s,
        "burst_in_arrival_order": order == burst,
        "reduce_s": float(np.median([phases[name][2] - phases[name][1] for name in steady])),
        "quicklook_s": float(np.median([phases[name][3] - phases[name][2] for name in steady])),
        "wait_s": float(np.median([phases[name][1] - phases[name][0] for name in steady])),
    }


def markdown(result, args):
    about = result["machine"]
    steady, burst = np.array(result["steady_latency_s"]), np.array(result["burst_latency_s"])
    return "\n".join([
        f"The watcher on {args.size}x{args.size} IRIS frames renamed in, {about['date']}, {about['cpus']} cores, "
        f"{about['memory_gib']} GiB (load {about['load_average']} at start), Python {about['python']}.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| latency, frame landed to `_cal` written, one frame per {args.cadence:g} s ({args.frames} frames): median / 99th percentile / largest "
        f"| {np.median(steady):.2f} / {np.percentile(steady, 99):.2f} / {steady.max():.2f} |",
        f"| of which: waiting (events, the quiet interval) / reduction (selection, read, compute, write), medians "
        f"| {result['wait_s']:.2f} / {result['reduce_s']:.2f} |",
        f"| quick-look per frame, after the `_cal` (median) | {result['quicklook_s']:.2f} |",
        f"| a burst of {args.burst} frames: drained in (reduced and quick-looked) | {result['burst_drain_s']:.1f} |",
        f"| the burst's latencies: median / largest | {np.median(burst):.2f} / {burst.max():.2f} |",
        "",
        f"The burst was reduced in arrival order: {'yes' if result['burst_in_arrival_order'] else 'no'}. Issue 20's "
        "targets: median latency < 1 s and 99th percentile < 2 s at one frame per 5 s; >= 2 frames/s sustained.",
    ]) + "\n"


def main():
    args = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="bench_watch_") as scratch:
        result = {"machine": machine(), **measure(args, Path(scratch))}
    result["arguments"] = {key: str(value) for key, value in vars(args).items()}
    write_results(args.output_dir, "watch", result, markdown(result, args))


if __name__ == "__main__":
    main()
