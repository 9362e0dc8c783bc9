"""Level 3 of a dithered IRIS observation (outlier detection and drizzle to a mosaic), beside jwst and drizzle.

Simulates an N-position dither of N x N-pixel IRIS frames (default 9 x 4096x4096; with residual cosmic rays, and
the pointing the headers say: neither side aligns the frames here), calibrates it to L2b ``_cal`` frames and
measures side by side in one run, each job in a fresh process so that its peak memory (VmHWM) is its own:

- ours: OutlierDetectionStep then ResampleStep (what each returns fed to the next, as the pipeline chains them),
  and the whole Image3Pipeline on the frames' image3 association (tweakreg, skymatch and the source catalogue
  included);
- jwst's OutlierDetectionStep then ResampleStep on the same frames as NIRCam ImageModels (``jwst_image3.py`` in
  jwst's environment, ``--jwst-python``), with calwebb_image3's default ``in_memory=True``, and with
  ``in_memory=False`` (its memory-saving mode), drizzling onto our mosaic's grid;
- drizzle's own kernel: a bare ``drizzle.resample.Drizzle.add_image`` loop over the same frames with their pixel
  maps and inverse read-noise weights precomputed (SCI alone, and SCI with the three variances as ``data2``),
  the floor of the whole stage;
- peak memory of ours and jwst's against the number of frames (``--memory-frames``, at ``--memory-size``);
- agreement: our i2d against jwst's on the same grid, the median relative difference of SCI where both have
  weight, and the total flux there, after the explicit unit scale between the two (jwst keeps the input's
  surface brightness, DN/s per input pixel; ours is DN/s per output pixel).

    python benchmarks/bench_image3.py [--size 4096] [--frames 9] [--memory-size 2048] [--memory-frames 3,6,9]
        [--repeat 1] [--jwst-python benchmarks/.jwst-venv/bin/python] [--work-dir DIR] [--output-dir benchmarks/results]

Writes ``image3.md`` and ``image3.json`` to the output directory. ``--work-dir`` keeps the simulated and
calibrated frames there and reuses them on the next run.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_imager_l2 import best_of, machine, print_timings, run_script_worker, write_results

BENCHMARKS = Path(__file__).resolve().parent
#: Our ResampleStep's drizzle parameters, the defaults of both sides.
DRIZZLE = {"pixfrac": 1.0, "kernel": "square", "weight_type": "ivm"}
#: Residual cosmic-ray hits per exposure per 1024x1024 pixels, for outlier detection to find.
COSMIC_RAYS_PER_MEGAPIXEL = 100
PRODUCT = "bench_image3"
OURS = "ours: OutlierDetectionStep + ResampleStep (2 processes, the default)"
OURS_SERIAL = "ours: OutlierDetectionStep + ResampleStep (1 process)"
#: DQ bits of pixels drizzle leaves out (DO_NOT_USE, NON_SCIENCE), as both sides do.
UNUSABLE = 1 | 512
OUTLIER = 16


# ---- workers (each in its own process) ----

def ours_worker(frames_json, output, processes="2"):
    """Our OutlierDetectionStep then ResampleStep on the frames, drizzling in ``processes`` processes (their
    default 2: forked children; 1: this process alone); the mosaic written to ``output``. Besides the phases: CPU
    seconds of the process and its children, and the peak RSS of its largest child (the children share the
    parent's pages copy-on-write, so the two peaks overlap)."""
    import os
    import resource

    started = time.perf_counter()
    from liger_iris_pipeline import OutlierDetectionStep, ResampleStep

    imported = time.perf_counter()
    parameters = {**DRIZZLE, "processes": int(processes)}
    # OutlierDetectionStep returns the FrameLibrary of the flagged frames, which its caller closes.
    with OutlierDetectionStep.call(json.loads(frames_json), **parameters) as flagged:
        after_outliers = time.perf_counter()
        mosaic = ResampleStep.call(flagged, **parameters)
        computed = time.perf_counter()
        mosaic.save(output)
        written = time.perf_counter()
        outliers = 0
        for index in range(len(flagged)):
            with flagged.frame(index, arrays=("dq",)) as model:
                outliers += int(((model.dq & OUTLIER) != 0).sum())
    times = os.times()
    print_timings(
        started, imported, imported, computed, written,
        outlier_detection_s=after_outliers - imported, resample_s=computed - after_outliers, outlier_pixels=outliers,
        cpu_s=times.user + times.system + times.children_user + times.children_system,
        child_peak_rss_mib=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def pipeline_worker(association, output_dir):
    """Our whole Image3Pipeline on an image3 association, its products written to ``output_dir``."""
    started = time.perf_counter()
    from liger_iris_pipeline import Image3Pipeline

    imported = time.perf_counter()
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    Image3Pipeline.call(association, output_dir=output_dir, save_results=True)
    finished = time.perf_counter()
    print_timings(started, imported, imported, finished, finished)


def kernel_worker(frames_json, grid, arrays):
    """drizzle's kernel alone: ``Drizzle.add_image`` of every frame onto ``grid``'s SCI grid, with pixel maps,
    inverse read-noise weights (zero where DQ has DO_NOT_USE or NON_SCIENCE) and, if ``arrays`` is
    ``variances``, the three variances as ``data2``, all prepared before the clock starts."""
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS
    from drizzle.resample import Drizzle
    from drizzle.utils import calc_pixmap

    grid_header = fits.getheader(grid, "SCI")
    grid_wcs, out_shape = WCS(grid_header), (grid_header["NAXIS2"], grid_header["NAXIS1"])
    inputs = []
    for path in json.loads(frames_json):
        with fits.open(path) as frame:
            data = frame["SCI"].data.astype("f4")
            var_rnoise = frame["VAR_RNOISE"].data.astype("f4")
            good = (frame["DQ"].data.astype("u4") & UNUSABLE) == 0
            weight = np.where(good & (var_rnoise > 0), 1.0 / np.where(var_rnoise > 0, var_rnoise, 1.0), 0.0)
            variances = [frame[name].data.astype("f4") for name in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")]
            inputs.append({
                "data": data,
                "exptime": float(frame[0].header["EXPTIME"]),
                "pixmap": calc_pixmap(WCS(frame["SCI"].header), grid_wcs, data.shape),
                "weight_map": weight.astype("f4"),
                "data2": variances if arrays == "variances" else None,
            })
    started = time.perf_counter()
    drizzle = Drizzle(kernel=DRIZZLE["kernel"], fillval="NaN", out_shape=out_shape)
    for arguments in inputs:
        drizzle.add_image(pixfrac=DRIZZLE["pixfrac"], **arguments)
    finished = time.perf_counter()
    print_timings(started, started, started, finished, finished, kernel_s=finished - started)


# ---- the measurements ----

def simulate_and_calibrate(directory, positions, size):
    """The ``_cal`` frames of a ``positions``-point dither at ``size`` (tests/dithered.py's calibrate_dither),
    reused when ``directory`` already holds them; with the seconds it took (0 when reused)."""
    existing = sorted((directory / "cal").glob("*_cal.fits"))
    if len(existing) == positions:
        return existing, 0.0
    sys.path.insert(0, str(BENCHMARKS.parent / "tests"))
    from dithered import calibrate_dither

    began = time.perf_counter()
    dither = calibrate_dither(
        directory, positions=positions, size=size, seed=3, pointing_error_mas=0.0, max_rotation_deg=0.0,
        residual_cosmic_rays=round(COSMIC_RAYS_PER_MEGAPIXEL * size * size / 2**20),
    )
    return list(dither.cal), time.perf_counter() - began


def write_association(frames, directory):
    from liger_iris_pipeline.associations.generate import write_associations

    return write_associations(frames, directory, image3_product=PRODUCT)[0]


def run_jwst(jwst_python, command, *arguments):
    """``jwst_image3.py command arguments...`` in jwst's environment; its last stdout line as JSON, if any."""
    completed = subprocess.run(
        [jwst_python, str(BENCHMARKS / "jwst_image3.py"), command, *map(str, arguments)],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"jwst_image3.py {command} failed:\n{completed.stderr[-3000:]}")
    lines = completed.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def measure_jwst(jwst_python, frames, work, repeat, grid=None, on_disk=False):
    """jwst's two steps on ``frames`` (prepared once into ``work``), the median over ``repeat`` runs."""
    if not (work / "image3_asn.json").exists():
        run_jwst(jwst_python, "prepare", work, *frames)
    options = (["--grid", grid] if grid else []) + (["--on-disk"] if on_disk else [])

    def measure():
        began = time.perf_counter()
        timings = run_jwst(jwst_python, "run", work, *options)
        timings["process_s"] = time.perf_counter() - began
        return timings

    runs = [measure() for _ in range(repeat)]
    numbers = {key: statistics.median(run[key] for run in runs) for key, value in runs[0].items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    return {**runs[0], **numbers}


def measure_stage(frames, work, repeat, jwst_python):
    """Every job of the full-size comparison on ``frames``: {row name: timings}, and the two mosaics."""
    ours_i2d = work / "ours_i2d.fits"
    frames_json = json.dumps([str(path) for path in frames])
    rows = {OURS: best_of(repeat, lambda: run_script_worker(__file__, "ours", frames_json, ours_i2d, 2))}
    rows[OURS_SERIAL] = best_of(
        repeat, lambda: run_script_worker(__file__, "ours", frames_json, work / "ours_serial_i2d.fits", 1)
    )
    association = write_association(frames, frames[0].parent)
    rows["ours: Image3Pipeline (all steps)"] = best_of(
        repeat, lambda: run_script_worker(__file__, "pipeline", association, work / "image3")
    )
    for label, variances in (("SCI", "sci"), ("SCI + 3 variances", "variances")):
        rows[f"drizzle kernel: {label}"] = best_of(
            repeat, lambda variances=variances: run_script_worker(__file__, "kernel", frames_json, ours_i2d, variances)
        )
    mosaics = {"ours": ours_i2d}
    if jwst_python:
        for label, on_disk in (("in_memory=True, jwst's default", False), ("in_memory=False", True)):
            row = measure_jwst(jwst_python, frames, work / "jwst", repeat, grid=ours_i2d, on_disk=on_disk)
            rows[f"jwst {row['jwst']}: OutlierDetectionStep + ResampleStep ({label})"] = row
            mosaics.setdefault("jwst", Path(row["i2d"]))  # the same grid and steps in both modes
    return rows, mosaics


def measure_memory(frames, work, jwst_python, counts):
    """Peak RSS of ours and of jwst's two steps (in_memory=True) on the first N frames, for each N."""
    rows = []
    for count in counts:
        subset = frames[:count]
        ours = run_script_worker(__file__, "ours", json.dumps([str(path) for path in subset]), work / f"ours_{count}_i2d.fits")
        row = {"frames": count, "ours_peak_rss_mib": ours["peak_rss_mib"], "ours_s": ours["process_s"]}
        if jwst_python:
            jwst = measure_jwst(jwst_python, subset, work / f"jwst_{count}", 1)
            row.update(jwst_peak_rss_mib=jwst["peak_rss_mib"], jwst_s=jwst["process_s"])
        rows.append(row)
    return rows


def flux_scale(ours_header, jwst_header, frame_header):
    """The factor that puts jwst's mosaic in our unit: DN/s per output pixel = DN/s (per input pixel, jwst's
    surface brightness) x output pixel area / input pixel area; refused when the units are not all DN/s."""
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_area

    units = (ours_header["BUNIT"], jwst_header["BUNIT"], frame_header["BUNIT"])
    if units != ("DN/s",) * 3:
        raise ValueError("units of our mosaic, jwst's and the frames: {}, {}, {}; expected DN/s".format(*units))
    return proj_plane_pixel_area(WCS(ours_header)) / proj_plane_pixel_area(WCS(frame_header))


def agreement(ours_path, jwst_path, frame_path):
    """Our mosaic against jwst's (same grid): where both have weight, the median relative difference of SCI,
    and the total flux of each there (jwst's scaled to our unit)."""
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(ours_path) as ours, fits.open(jwst_path) as jwst:
        if ours["SCI"].data.shape != jwst["SCI"].data.shape:
            raise ValueError(f"grids differ: ours {ours['SCI'].data.shape}, jwst {jwst['SCI'].data.shape}")
        # Same grid: the world position of every corner of the array agrees to well under a pixel.
        ny, nx = ours["SCI"].data.shape
        corners = np.array([[0, 0], [nx - 1, 0], [0, ny - 1], [nx - 1, ny - 1]], dtype=float)
        offset = np.abs(WCS(jwst["SCI"].header).world_to_pixel(WCS(ours["SCI"].header).pixel_to_world(*corners.T))
                        - corners.T).max()
        if offset > 0.01:
            raise ValueError(f"grids differ by {offset:.3f} pixels")
        scale = flux_scale(ours["SCI"].header, jwst["SCI"].header, fits.getheader(frame_path, "SCI"))
        ours_sci, jwst_sci = ours["SCI"].data.astype("f8"), jwst["SCI"].data.astype("f8") * scale
        both = (ours["WHT"].data > 0) & (jwst["WHT"].data > 0) & np.isfinite(ours_sci) & np.isfinite(jwst_sci)
        relative = (ours_sci[both] - jwst_sci[both]) / np.abs(jwst_sci[both])
        return {
            "jwst_to_ours_scale": scale,
            "grid_offset_px": float(offset),
            "pixels_compared": int(both.sum()),
            "median_relative_difference": float(np.median(relative)),
            "median_abs_relative_difference": float(np.median(np.abs(relative))),
            "flux_ours": float(ours_sci[both].sum()),
            "flux_jwst": float(jwst_sci[both].sum()),
            "flux_ratio": float(ours_sci[both].sum() / jwst_sci[both].sum()),
        }


# ---- results ----

def markdown(result):
    info, rows = result["machine"], result["jobs"]
    lines = [
        f"{result['frames']} dithered {result['size']}x{result['size']} IRIS frames to one mosaic, {info['date']}, "
        f"{info['cpus']} cores, {info['memory_gib']} GiB, Python {info['python']}, numpy {info['numpy']}, "
        f"liger_iris_pipeline {info['liger_iris_pipeline']}, drizzle {result['drizzle']}; median of "
        f"{result['repeat']} runs, each job in a fresh process; load average {info['load_average']} at the start.",
        "",
        "| job | process wall [s] | read [s] | outlier detection [s] | resample [s] | compute [s] | CPU [s] | peak RSS [MiB] | largest child's peak RSS [MiB] |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        cells = [row.get(key) or None for key in ("read_s", "outlier_detection_s", "resample_s")]
        compute = row.get("compute_s", sum(value for value in cells[1:] if value is not None))
        lines.append(
            f"| {name} | {row['process_s']:.2f} | "
            + " | ".join("" if value is None else f"{value:.2f}" for value in cells)
            + f" | {compute:.2f} | {_cell(row.get('cpu_s'), '.1f')} | {row['peak_rss_mib']:.0f}"
            + f" | {_cell(row.get('child_peak_rss_mib') or None, '.0f')} |"
        )
    lines += [
        "",
        "CPU: user and system seconds of the job's process and its forked children, where measured. "
        "Ours reads each frame within the steps; jwst's rows read the frames first (read, as its ModelLibrary in "
        "memory would on first use), and its ratios below count that reading. Ratios of this run: "
        + "; ".join(f"{name} {value:.2f}" for name, value in result["ratios"].items()) + ".",
        "",
        "Outlier pixels flagged: "
        + ", ".join(
            f"{name.replace(': OutlierDetectionStep + ResampleStep', '')} {row['outlier_pixels']}"
            for name, row in rows.items() if "outlier_pixels" in row
        )
        + ".",
    ]
    if result.get("agreement"):
        a = result["agreement"]
        lines += [
            "",
            f"Agreement, our mosaic against jwst's on the same grid ({a['pixels_compared']} pixels with weight in "
            f"both; jwst's SCI times {a['jwst_to_ours_scale']:.6g} for DN/s per output pixel): median relative "
            f"difference {a['median_relative_difference']:.2e} (of its absolute value "
            f"{a['median_abs_relative_difference']:.2e}), total flux ratio {a['flux_ratio']:.6f}.",
        ]
    lines += [
        "",
        f"Peak memory against the number of frames ({result['memory_size']}x{result['memory_size']} frames):",
        "",
        "| frames | ours peak RSS [MiB] | jwst peak RSS [MiB] (in_memory=True) |",
        "|---:|---:|---:|",
    ]
    for row in result["memory"]:
        jwst = row.get("jwst_peak_rss_mib")
        lines.append(f"| {row['frames']} | {row['ours_peak_rss_mib']:.0f} | {'' if jwst is None else f'{jwst:.0f}'} |")
    lines += ["", f"Simulating and calibrating the frames: {result['simulate_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def _cell(value, spec):
    return "" if value is None else format(value, spec)


def ratios(rows):
    """The comparisons of issue 18: jwst's time over ours, and our stage's time over drizzle's kernel (wall time,
    and, for the default's two processes, CPU time too)."""
    ours = rows[OURS]
    ours_steps = ours["outlier_detection_s"] + ours["resample_s"]
    serial = rows[OURS_SERIAL]
    kernel = rows["drizzle kernel: SCI + 3 variances"]["kernel_s"]
    found = {
        "ours / drizzle kernel (SCI)": ours_steps / rows["drizzle kernel: SCI"]["kernel_s"],
        "ours / drizzle kernel (SCI + variances)": ours_steps / kernel,
        "ours in 1 process / drizzle kernel (SCI + variances)": (serial["outlier_detection_s"] + serial["resample_s"]) / kernel,
        "ours, CPU seconds of all processes / drizzle kernel (SCI + variances)": ours["cpu_s"] / kernel,
    }
    for name, row in rows.items():
        if name.startswith("jwst"):
            mode = "in_memory=False" if "in_memory=False" in name else "in_memory=True"
            jwst_steps = row["read_s"] + row["outlier_detection_s"] + row["resample_s"]
            found[f"jwst ({mode}) / ours, two steps"] = jwst_steps / ours_steps
            found[f"jwst ({mode}) / ours, peak RSS"] = row["peak_rss_mib"] / ours["peak_rss_mib"]
    return found


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="frame size in pixels (default 4096)")
    parser.add_argument("--frames", type=int, default=9, help="dither positions (default 9)")
    parser.add_argument("--memory-size", type=int, default=2048, help="frame size of the memory-vs-frames runs")
    parser.add_argument("--memory-frames", default="3,6,9", help="numbers of frames of the memory runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (median reported)")
    parser.add_argument("--jwst-python", help="python of an environment with jwst (benchmarks/jwst-constraints.txt)")
    parser.add_argument("--work-dir", type=Path, help="keep (and reuse) the simulated frames here")
    parser.add_argument("--output-dir", type=Path, default=BENCHMARKS / "results")
    return parser.parse_args()


def main():
    args = parse_arguments()
    if args.jwst_python:  # jwst's jobs run in benchmarks/: a path relative to here must not change meaning there
        args.jwst_python = str(Path(args.jwst_python).absolute())
    counts = [int(count) for count in args.memory_frames.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench_image3_") as scratch:
        work = args.work_dir or Path(scratch)
        frames, simulate_seconds = simulate_and_calibrate(work / f"dither_{args.frames}x{args.size}", args.frames, args.size)
        stage = work / "stage"
        stage.mkdir(parents=True, exist_ok=True)
        rows, mosaics = measure_stage(frames, stage, args.repeat, args.jwst_python)
        result_agreement = agreement(mosaics["ours"], mosaics["jwst"], frames[0]) if "jwst" in mosaics else None
        small, small_seconds = simulate_and_calibrate(work / f"dither_{max(counts)}x{args.memory_size}", max(counts), args.memory_size)
        memory = work / "memory"
        memory.mkdir(parents=True, exist_ok=True)
        memory_rows = measure_memory(small, memory, args.jwst_python, counts)
    import drizzle

    result = {
        "size": args.size,
        "frames": args.frames,
        "repeat": args.repeat,
        "memory_size": args.memory_size,
        "machine": machine(),
        "drizzle": drizzle.__version__,
        "simulate_s": simulate_seconds + small_seconds,
        "jobs": rows,
        "ratios": ratios(rows),
        "agreement": result_agreement,
        "memory": memory_rows,
    }
    write_results(args.output_dir, "image3", result, markdown(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, *rest = sys.argv[2:]
        {"ours": ours_worker, "pipeline": pipeline_worker, "kernel": kernel_worker}[kind](*rest)
    else:
        main()
