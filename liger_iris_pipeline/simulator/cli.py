"""``liger-iris-simulate``: write a simulated observation (raw frames, references, truth) and print the paths.

    liger-iris-simulate --output-dir demo/ [--instrument IRIS] [--size 512] [--seed 1] [--n-exposures 1] ...
        [--subarray NAME,XSTART,YSTART,XSIZE,YSIZE ...] [--n-sky N] [--n-darks N] [--n-flats N]
        [--flat-type dome|twilight] [--flat-rate DN/s]
        [--ramp UTR|CDS|MCDS [--ngroups 10] [--nframes 1] [--groupgap 0] [--frame-time 10] ...]
        [--dither 4|9 [--dither-step 0.2] [--pointing-error-mas 20] [--max-rotation-deg 0.01]]
        [--residual-cosmic-rays N] [--residual-hot-pixels N] [--detectors 1|4 [--detector-gap 1.232]]
        [--distortion PIXELS [--distortion-reference-error FRACTION]]
"""

import argparse

from ..instruments import IMAGERS
from . import dither
from .ramp import READ_MODES, RampReadout
from .simulate import simulate_observation


def _positive(kind):
    """An argparse type accepting values of ``kind`` greater than zero."""

    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid ... value" message
    return parse


def _non_negative(kind):
    """An argparse type accepting values of ``kind`` that are zero or more."""

    def parse(text):
        value = kind(text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _subarray(text):
    """An argparse type for a window NAME,XSTART,YSTART,XSIZE,YSIZE (1-based detector pixels)."""
    name, *geometry = text.split(",")
    try:
        if len(geometry) != 4:
            raise ValueError
        return (name, *(int(value) for value in geometry))
    except ValueError:
        message = f"expected NAME,XSTART,YSTART,XSIZE,YSIZE with integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="liger-iris-simulate",
        description="Simulate raw Liger/IRIS imager frames with matching mask/dark/flat references and truth.",
    )
    parser.add_argument("--output-dir", required=True, help="directory to write into (created if missing)")
    parser.add_argument("--instrument", type=str.upper, choices=sorted(IMAGERS), default="IRIS")
    parser.add_argument("--size", type=_positive(int), help="pixels per side (default: the full detector)")
    parser.add_argument("--seed", type=_non_negative(int), default=0)
    parser.add_argument("--n-exposures", type=_positive(int), default=1)
    parser.add_argument("--n-stars", type=_non_negative(int), help="default: one star per 64 x 64 pixels")
    parser.add_argument("--exposure-time", type=_positive(float), default=60.0, help="seconds")
    parser.add_argument("--sky-rate", type=_non_negative(float), default=5.0, help="DN/s per pixel")
    parser.add_argument("--fwhm-arcsec", type=_positive(float), help="default: diffraction limit in Ks")
    parser.add_argument("--filter", dest="filter_name", default="Ks")
    parser.add_argument("--program", default="P001")
    parser.add_argument("--observation", default="001")
    parser.add_argument("--semester", default="2027A")
    parser.add_argument("--date", default="2027-05-01T08:00:00", help="UTC start of the first exposure (ISO)")
    parser.add_argument("--ra", type=float, default=150.0, help="pointing RA [deg]")
    parser.add_argument("--dec", type=float, default=2.0, help="pointing Dec [deg]")
    parser.add_argument("--pa", type=float, default=0.0, help="position angle of detector +Y, east of north [deg]")
    parser.add_argument("--gain", type=_positive(float), default=2.0, help="e-/DN")
    parser.add_argument("--read-noise", type=_non_negative(float), default=3.0, help="DN")
    parser.add_argument("--n-sky", type=_non_negative(int), default=0, help="background (sky) exposures")
    parser.add_argument("--sky-stars", type=_non_negative(int), help="stars in the sky field (default: --n-stars)")
    parser.add_argument("--n-darks", type=_non_negative(int), default=0, help="dark exposures")
    parser.add_argument("--n-flats", type=_non_negative(int), default=0, help="flat exposures")
    parser.add_argument("--flat-type", choices=("dome", "twilight"), default="dome")
    parser.add_argument("--flat-rate", type=_positive(float), default=2000.0, help="flat illumination, DN/s")
    parser.add_argument(
        "--subarray", dest="subarrays", type=_subarray, action="append", default=[],
        metavar="NAME,XSTART,YSTART,XSIZE,YSIZE",
        help="also write this detector window of each exposure as a raw frame of its own (repeatable)",
    )
    dithers = parser.add_argument_group("dithered observations, pointing errors, residual outliers, IRIS mosaic")
    dithers.add_argument(
        "--dither", dest="dither_positions", type=_positive(int), metavar="N",
        help="one exposure per position of an n x n grid of N = n**2 positions (4, 9, ...); sets --n-exposures",
    )
    dithers.add_argument(
        "--dither-step", type=_non_negative(float), default=dither.DEFAULT_DITHER_STEP_ARCSEC,
        help="grid step [arcsec] (default %(default)s)",
    )
    dithers.add_argument(
        "--pointing-error-mas", type=_non_negative(float),
        help=f"sigma of the true boresight's miss, east and north, unknown to RA_PNT/DEC_PNT [mas] "
        f"(default {dither.DEFAULT_POINTING_ERROR_MAS:g} with --dither, else 0)",
    )
    dithers.add_argument(
        "--max-rotation-deg", type=_non_negative(float),
        help=f"bound of the true rotation unknown to PA_DET [deg] (default {dither.DEFAULT_MAX_ROTATION_DEG:g} "
        "with --dither, else 0)",
    )
    dithers.add_argument(
        "--residual-cosmic-rays", type=_non_negative(int), default=0, metavar="N",
        help="cosmic-ray hits left in each raw (L1) frame, flagged nowhere (default 0)",
    )
    dithers.add_argument(
        "--residual-hot-pixels", type=_non_negative(int), default=0, metavar="N",
        help="hot pixels per detector in every frame, in neither the mask nor the dark reference (default 0)",
    )
    dithers.add_argument(
        "--detectors", dest="n_detectors", type=int, choices=(1, 4), default=1,
        help="1, or 4 for the IRIS 2 x 2 mosaic IMG1..IMG4 (one frame per detector and exposure)",
    )
    dithers.add_argument(
        "--detector-gap", type=_non_negative(float), default=dither.DEFAULT_GAP_ARCSEC,
        help="gap between the mosaic's detectors [arcsec] (default %(default).3f)",
    )
    geometry = parser.add_argument_group("geometric distortion (simulator/distortion.py)")
    geometry.add_argument(
        "--distortion", dest="distortion_pixels", type=_positive(float), metavar="PIXELS",
        help="draw the frames through a polynomial distortion of this largest displacement [pixels] and write its "
        "reference (.asdf); default: none",
    )
    geometry.add_argument(
        "--distortion-reference-error", type=_non_negative(float), default=0.0, metavar="FRACTION",
        help="write an older solution as the reference: each coefficient off by N(0, FRACTION) relative (default 0)",
    )
    ramps = parser.add_argument_group("up-the-ramp reads (also write each exposure's ramp, LVL0)")
    ramps.add_argument("--ramp", dest="readmode", type=str.upper, choices=READ_MODES, help="read mode")
    ramps.add_argument("--ngroups", type=_positive(int), default=RampReadout.ngroups)
    ramps.add_argument("--nframes", type=_positive(int), default=RampReadout.nframes, help="reads per group")
    ramps.add_argument("--groupgap", type=_non_negative(int), default=RampReadout.groupgap, help="frames skipped between groups")
    ramps.add_argument("--frame-time", type=_positive(float), default=RampReadout.frame_time, help="seconds")
    ramps.add_argument("--nints", type=_positive(int), default=RampReadout.nints)
    ramps.add_argument(
        "--cosmic-ray-fraction", type=_non_negative(float), default=RampReadout.cosmic_ray_fraction,
        help="fraction of pixels hit by a cosmic ray per integration",
    )
    return parser


#: Options of the ramp readout (RampReadout fields).
_READOUT_OPTIONS = ("readmode", "ngroups", "nframes", "groupgap", "frame_time", "nints", "cosmic_ray_fraction")


def main(argv=None):
    """Parse ``argv``, simulate, print one written path per line; argparse exits with status 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    options = vars(args)
    pointing = (options.pop("ra"), options.pop("dec"))
    pa_deg = options.pop("pa")
    readout = {name: options.pop(name) for name in _READOUT_OPTIONS}
    try:
        readout = RampReadout(**readout) if readout["readmode"] else None
        result = simulate_observation(pointing=pointing, pa_deg=pa_deg, readout=readout, **options)
    except ValueError as error:
        parser.error(str(error))
    for path in result.all_paths():
        print(path)
    return 0
