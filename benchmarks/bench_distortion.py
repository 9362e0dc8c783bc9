"""What the geometric distortion adds to AssignWcsStep on a 4096x4096 IRIS frame within a batch (issue 21).

    python benchmarks/bench_distortion.py [--size 4096] [--repeat 3] [--output-dir benchmarks/results]

Times (median of ``--repeat`` runs, in one process, within ``batch()``) the SIP fit of a 10-pixel distortion
(once per reference, shape and reference pixel), then AssignWcsStep and saving its product per frame with the
distortion reference and without one (N/A), the SIP fit already made. Writes ``distortion.md`` and
``distortion.json``.
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from bench_imager_l2 import best_of, machine, parse_arguments, write_results

CORNER_PIXELS = 10.0
FRAMES_PER_RUN = 5


def distortion_reference(directory, size):
    """The simulator's 10-pixel distortion of a ``size`` detector, saved as an IRIS reference; its path."""
    from liger_iris_pipeline import datamodels
    from liger_iris_pipeline.reference_names import reference_file_name
    from liger_iris_pipeline.simulator.distortion import DistortionField

    reference = datamodels.DistortionModel()
    reference.model = DistortionField.of((size, size), CORNER_PIXELS, "Ks").transform()
    meta = reference.meta
    meta.instrument.name, meta.instrument.detector, meta.instrument.filter = "IRIS", "IMG1", "Ks"
    meta.useafter, meta.pedigree, meta.description = "2020-01-01T00:00:00", "SIMULATION", "benchmark"
    path = Path(directory) / reference_file_name(reference)
    reference.save(path)
    return path


def frame(size):
    """A blank 4096x4096 (``size``) IRIS frame with what AssignWcsStep reads."""
    from liger_iris_pipeline import datamodels

    model = datamodels.ImagerModel(data=np.zeros((size, size), np.float32))
    meta = model.meta
    meta.instrument.name, meta.instrument.detector, meta.instrument.filter = "IRIS", "IMG1", "Ks"
    meta.exposure.type, meta.exposure.exposure_time = "SCIENCE", 60.0
    meta.observation.date, meta.observation.time = "2027-05-01", "08:00:00"
    meta.pointing.ra, meta.pointing.dec, meta.pointing.pa = 150.0, 2.0, 30.0
    meta.bunit_data = meta.bunit_err = "DN/s"
    return model


def measure(reference, model, work):
    """Seconds per frame (median of ``FRAMES_PER_RUN``, the two cases taking turns) of AssignWcsStep and of
    saving its product, with the distortion and without."""
    import statistics

    from liger_iris_pipeline import AssignWcsStep

    runs = {}
    for _ in range(FRAMES_PER_RUN):
        for name, override in (("with", str(reference)), ("without", "N/A")):
            started = time.perf_counter()
            result = AssignWcsStep.call(model, override_distortion=override)
            stepped = time.perf_counter()
            result.save(work / f"frame_{name}_cal.fits")
            runs.setdefault(f"assign_wcs_{name}_s", []).append(stepped - started)
            runs.setdefault(f"save_{name}_s", []).append(time.perf_counter() - stepped)
    return {key: statistics.median(values) for key, values in runs.items()}


def markdown(result):
    about, timings = result["machine"], result["timings"]
    added = timings["assign_wcs_with_s"] - timings["assign_wcs_without_s"] + timings["save_with_s"] - timings["save_without_s"]
    lines = [
        f"Geometric distortion in AssignWcsStep, one {result['size']}x{result['size']} IRIS frame "
        f"({CORNER_PIXELS:g}-pixel distortion), {about['date']}, {about['cpus']} cores, {about['memory_gib']} GiB, "
        f"Python {about['python']}, numpy {about['numpy']}; median of {result['repeat']} runs within `batch()`.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| SIP fit (once per reference, shape and reference pixel; largest error {result['sip_max_error']:.1e} pixel) "
        f"| {result['sip_fit_s']:.3f} |",
        f"| AssignWcsStep per frame, with / without the distortion | {timings['assign_wcs_with_s']:.3f} / "
        f"{timings['assign_wcs_without_s']:.3f} |",
        f"| saving the product per frame, with / without | {timings['save_with_s']:.3f} / {timings['save_without_s']:.3f} |",
        f"| added per frame by the distortion | {added:.3f} |",
    ]
    return "\n".join(lines) + "\n"


def main():
    args = parse_arguments(__doc__)
    from liger_iris_pipeline import batch, datamodels
    from liger_iris_pipeline.assign_wcs.imager_wcs import SipApproximation

    shape = (args.size, args.size)
    with tempfile.TemporaryDirectory(prefix="bench_distortion_") as scratch:
        scratch = Path(scratch)
        reference = distortion_reference(scratch, args.size)
        with datamodels.open(reference) as opened:
            started = time.perf_counter()
            approximation = SipApproximation.fit(opened.model, ((args.size + 1) / 2.0,) * 2, 0.004 / 3600.0, shape)
            sip_fit_s = time.perf_counter() - started
        model = frame(args.size)
        with batch():
            timings = best_of(args.repeat, lambda: measure(reference, model, scratch))
    result = {
        "machine": machine(), "size": args.size, "repeat": args.repeat, "sip_fit_s": sip_fit_s,
        "sip_max_error": approximation.max_error, "timings": timings,
    }
    write_results(args.output_dir, "distortion", result, markdown(result))


if __name__ == "__main__":
    main()
