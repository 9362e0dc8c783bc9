"""Memory and time each job asks for, from measured costs: what a cluster scheduler needs to place jobs.

A job asks for ``MEMORY_MARGIN`` x its measured peak memory and ``RUNTIME_MARGIN`` x its measured time
(a busy shared file system is far slower than the local disk measured on), both times the attempt: a job
that SLURM kills for running out of either gets more on its retry.
"""

import math
import os

from ..instruments import IMAGERS

#: Cost of one job in a fresh process on a full detector frame (IRIS 4096x4096, Liger 2048x2048), 2 cores and a
#: local disk: (peak RSS in MiB, wall seconds). IRIS steps and pipeline: benchmarks/results/imager_l2.json (median of
#: 3, 2026-12-01, quiet machine); the rest: /usr/bin/time -v on the demo's frames, 2026-11-25 (merge_subarrays with
#: one 512x512 GUIDE window). A subarray frame is smaller than its detector, so its job needs less.
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
#: A batch of frames in one job (frames_per_job > 1): (peak RSS in MiB, wall seconds of each frame after the first).
#: The chain: benchmarks/results/imager_l2.json (a 10-frame batch; the job keeps its references). Quick-looks:
#: benchmarks/results/quicklook.json (in process). Liger scaled from IRIS by pixel count.
MEASURED_IN_BATCH = {
    "process_imager_l2": {"IRIS": (1098, 0.32), "LIGER": (500, 0.1)},
    "quicklook": {"IRIS": (920, 2.3), "LIGER": (230, 0.6)},
}
#: An observation's Level-3 job (Image3Pipeline, frames streamed, drizzling in two processes): (peak RSS in MiB,
#: wall seconds per frame). IRIS: benchmarks/results/image3.json (the whole pipeline on 9 dithered 4096x4096 frames,
#: 2026-12-08); LIGER: its peak for 2048x2048 frames (the same file's memory rows, flat from 3 to 9 frames) and
#: IRIS's time scaled by pixel count.
MEASURED_MOSAIC = {"IRIS": (3223, 15.7), "LIGER": (1045, 3.9)}
MEMORY_MARGIN = 1.5
RUNTIME_MARGIN = 20


def memory_request(peak_mib, attempt):
    """mem_mb for a job of measured peak ``peak_mib``, rounded up to 100 MiB, on its ``attempt``."""
    return attempt * 100 * math.ceil(MEMORY_MARGIN * peak_mib / 100)


def runtime_request(seconds, attempt):
    """runtime (minutes) for a job of measured wall time ``seconds`` on its ``attempt``."""
    return attempt * math.ceil(RUNTIME_MARGIN * seconds / 60)


def measured_memory(night, rule):
    """Resource function: mem_mb of the rule's job, from its measured peak for the observation's instrument."""
    return lambda wildcards, attempt: memory_request(MEASURED[rule][night.instrument(wildcards.observation)][0], attempt)


def measured_runtime(night, rule):
    """Resource function: runtime (minutes) of the rule's job, from its measured wall time."""
    return lambda wildcards, attempt: runtime_request(MEASURED[rule][night.instrument(wildcards.observation)][1], attempt)


def batch_memory(instrument, rule):
    """Resource function: mem_mb of a batch job of ``rule``."""
    return lambda wildcards, attempt: memory_request(MEASURED_IN_BATCH[rule][instrument][0], attempt)


def batch_runtime(instrument, rule, frames):
    """Resource function: runtime of a batch job of ``rule`` on ``frames`` frames: its first frame as a job of its
    own, each later one at the measured cost of a frame in a batch."""
    seconds = MEASURED[rule][instrument][1] + (frames - 1) * MEASURED_IN_BATCH[rule][instrument][1]
    return lambda wildcards, attempt: runtime_request(seconds, attempt)


def mosaic_memory(instrument):
    """Resource function: mem_mb of an observation's Level-3 job (Image3Pipeline), which streams its frames:
    its memory does not grow with their number (MEASURED_MOSAIC)."""
    return lambda wildcards, attempt: memory_request(MEASURED_MOSAIC[instrument][0], attempt)


def mosaic_runtime(instrument, frames):
    """Resource function: runtime of an observation's Level-3 job on ``frames`` frames (MEASURED_MOSAIC)."""
    return lambda wildcards, attempt: runtime_request(frames * MEASURED_MOSAIC[instrument][1], attempt)


def ramp_memory(path, attempt):
    """Detector1 holds the ramp, one reference at a time and the frame it makes: about 1.2 times the file plus
    imports (measured: 1589 MiB for a 4096x4096 x 10-group ramp of 864 MiB, MEASURED); asked with a margin of about
    1.5, more on a retry."""
    return attempt * (2 * os.path.getsize(path) // 2**20 + 600)


def calibration_memory(instrument, exposures):
    """A stack of ``exposures`` frames (SCI, ERR, DQ and the work arrays): about 6 x N frames of float32."""
    size = IMAGERS[instrument].size
    return MEASURED["dark_current"][instrument][0] + 6 * exposures * size * size * 4 // 2**20
