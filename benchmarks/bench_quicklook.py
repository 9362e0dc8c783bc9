"""Cost of the quick-look of one calibrated 4096x4096 IRIS frame: each part of ``quicklook_frame``, in process.

    python benchmarks/bench_quicklook.py [--size 4096] [--repeat 3] [--output-dir benchmarks/results]

Simulates a frame, reduces it with the pipeline, then times (median of ``--repeat`` runs) reading it, the sky
statistics, star detection, the PSF fits, the PNG (downsampling, drawing, writing) and the whole
``quicklook_frame`` (with its stars table and region file, as the workflow's job). Writes ``quicklook.md`` (shown on
docs/performance.rst) and ``quicklook.json``.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from bench_imager_l2 import best_of, machine, parse_arguments, simulate, write_results


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def measure(frame, catalog, work):
    """Seconds of each part of the quick-look of ``frame``."""
    from liger_iris_pipeline import datamodels
    from liger_iris_pipeline.quicklook import qa, quicklook_frame, render_quicklook
    from liger_iris_pipeline.quicklook.frame import flagged_pixels

    (model, image, flagged), read_s = timed(
        lambda: (model := datamodels.open(frame), np.asarray(model.data, float), flagged_pixels(model))
    )
    (sky, _), sky_s = timed(qa.sky_statistics, image, flagged)
    stars, detect_s = timed(qa.detect_stars, image, flagged, sky)
    brightest = stars[:100]
    fwhm = float(np.median(brightest["moment_fwhm"]))
    _, fit_s = timed(qa.fit_stars, image, flagged, sky, brightest["x"], brightest["y"], fwhm, 13)
    _, png_s = timed(render_quicklook, work / "frame.png", image, flagged, model.meta.wcs, "benchmark")
    model.close()
    _, total_s = timed(
        quicklook_frame, frame, work / "ql.png", work / "ql_qa.ecsv", catalog_path=catalog, stars_path=work / "ql_stars.ecsv"
    )
    return {"read_s": read_s, "sky_s": sky_s, "detect_s": detect_s, "fit_100_stars_s": fit_s, "png_s": png_s,
            "quicklook_frame_s": total_s}


def markdown(result):
    about = result["machine"]
    lines = [
        f"Quick-look of one {result['size']}x{result['size']} IRIS frame ({result['stars']} stars), {about['date']}, "
        f"{about['cpus']} cores, {about['memory_gib']} GiB, Python {about['python']}, numpy {about['numpy']}; "
        f"median of {result['repeat']} runs, in one process.",
        "",
        "| part | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name.removesuffix('_s')} | {seconds:.2f} |" for name, seconds in result["timings"].items()]
    return "\n".join(lines) + "\n"


def main():
    args = parse_arguments(__doc__)
    from liger_iris_pipeline import ProcessImagerL2Pipeline

    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        written, _ = simulate(work / "sim", args.size)
        cal = ProcessImagerL2Pipeline.call(
            str(written.raw[0]),
            steps={
                "dq_init": {"override_mask": str(written.mask)},
                "dark_current": {"override_dark": str(written.dark)},
                "flat_field": {"override_flat": str(written.flat)},
            },
        )
        frame = work / "frame_cal.fits"
        cal.save(frame)
        timings = best_of(args.repeat, lambda: measure(frame, written.catalogs[0], work))
        stars = len(Table.read(written.catalogs[0]))
    result = {"size": args.size, "repeat": args.repeat, "stars": stars, "machine": machine(), "timings": timings}
    write_results(args.output_dir, "quicklook", result, markdown(result))


if __name__ == "__main__":
    main()
