"""The plan of a night: which files the workflow reduces, under which names, merged and sky-subtracted how.

Read from the config and the raw files' headers only (astropy), so that planning a night imports no
stpipe, stdatamodels or crds. Everything that would make a wrong or lost product is refused here, before
any job, with one line naming the file or the config key:

- two observations (or calibrations) of one name, or an observation named like the workflow's own
  directories;
- two files that would make products of one name in an observation (one of them would be lost);
- a raw file that is a product of the workflow, a file of the simulator's truth or catalogue, a reference
  file, or lies under the output directory;
- a file name that a FITS header cannot hold (the products record it as FILENAME).
"""

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from astropy.io import fits

from ..associations import load_association
from .config import ConfigFileError

#: Directories of the workflow's own under the output directory: no observation may be named so.
RESERVED_NAMES = ("calibrations", "crds", "logs", "benchmarks")
#: Suffixes of the workflow's products (design.md); a raw file named so is a product, not a raw frame.
PRODUCT_SUFFIXES = (
    "raw", "ramp", "dqinit", "dark", "flat", "cal", "merged", "bkgsub", "norm", "sub", "submap", "saturation",
    "nonlinearity", "jump", "assignwcs", "crf", "i2d",
)
#: File stems the simulator gives its truth and catalogues (``..._0001_truth``, ``..._truth_flat``).
_TRUTH_STEM = re.compile(r"_truth(_[a-z]+)?$|_catalog$")
_PRODUCT_STEM = re.compile(rf"_({'|'.join(PRODUCT_SUFFIXES)})$")
#: Reference file names (design.md): ``{Instrument}_{DETECTOR}_{REFTYPE}_{YYYYMMDDTHHMMSS}_{version}``.
_REFERENCE_STEM = re.compile(r"^(IRIS|Liger)_[A-Z0-9]+_[A-Z]+_\d{8}T\d{6}_\d+$")
#: Characters a FITS header value can hold (printable ASCII).
_HEADER_SAFE = re.compile(r"^[\x20-\x7e]+$")


@dataclass
class Night:
    """The night's observations and calibrations, with every exposure's file, as the rules need them."""

    config: dict
    output: str
    #: {observation: {exposure: raw frame path}}: frames, subarray frames and the raw frames detector1 makes.
    frames: dict = field(default_factory=dict)
    #: {observation: {exposure: ramp path}} of the observations that list ramps.
    ramps: dict = field(default_factory=dict)
    #: {(observation, full-frame exposure): [its subarray exposures]} of observations that merge them.
    merges: dict = field(default_factory=dict)
    #: {(observation, exposure): [background exposure paths]} from the observations' associations.
    backgrounds: dict = field(default_factory=dict)
    #: {observation: [L2b frames]} of the observations that make a Level-3 mosaic (``mosaic: true``).
    mosaics: dict = field(default_factory=dict)

    @property
    def observations(self):
        return {observation["name"]: observation for observation in self.config["observations"]}

    @property
    def calibrations(self):
        return {calibration["name"]: calibration for calibration in self.config.get("calibrations", [])}

    def instrument(self, observation):
        return self.observations[observation]["instrument"]

    def source_file(self, observation, exposure):
        """The file an exposure starts from, on which CRDS selects its references: its ramp or raw frame."""
        return self.ramps.get(observation, {}).get(exposure) or self.frames[observation][exposure]

    def source_files(self):
        return [self.source_file(obs, exposure) for obs, exposures in self.frames.items() for exposure in exposures]

    def calibrated(self):
        """Every L2b product: the _cal frames and the _merged ones."""
        cal = [f"{self.output}/{obs}/{exposure}_cal.fits" for obs, exposures in self.frames.items() for exposure in exposures]
        return cal + [f"{self.output}/{obs}/{exposure}_merged.fits" for obs, exposure in self.merges]

    def calibration_frames(self, name):
        calibration = self.calibrations[name]
        return list(expand_patterns(calibration, calibration["raw"], self.output).values())

    def batches(self, frames_per_job):
        """The batches of ``frames_per_job`` frames of each observation, in exposure order (adding later
        exposures changes only an observation's last batch): [(observation, number, [exposures])]."""
        return [
            (observation, number, names[start : start + frames_per_job])
            for observation, exposures in self.frames.items()
            for names in [sorted(exposures)]
            for number, start in enumerate(range(0, len(names), frames_per_job), 1)
        ]


def plan_night(config):
    """The Night of ``config`` (validated against the schema), or ConfigFileError naming what cannot be."""
    output = config["output_dir"]
    _check_unique_names(config)
    night = Night(config=config, output=output)
    for observation in config["observations"]:
        name = observation["name"]
        night.ramps[name] = expand_patterns(observation, observation.get("ramps", []), output)
        frames = expand_patterns(observation, observation.get("raw", []) + observation.get("subarrays", []), output)
        made = {ramp: f"{output}/{name}/{ramp}_raw.fits" for ramp in night.ramps[name]}
        _check_no_clash(name, frames, night.ramps[name])
        night.frames[name] = frames | made
        if observation.get("merge_subarrays", False):
            night.merges |= _merges(observation, output)
        night.backgrounds |= _backgrounds(observation, night.frames[name], output)
        if observation.get("mosaic", False):
            night.mosaics[name] = _mosaic_members(observation, output, night.ramps[name], night.merges)
    night.ramps = {name: ramps for name, ramps in night.ramps.items() if ramps}
    for calibration in config.get("calibrations", []):
        expand_patterns(calibration, calibration["raw"], output)
    _check_calibration_links(config.get("calibrations", []))
    return night


def expand_patterns(observation, patterns, output):
    """{exposure: path} of the files and globs ``patterns`` of an observation (or calibration), each checked to
    be a raw file; a pattern matching nothing is an error, and so are two files of one exposure name."""
    exposures = {}
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not paths or not all(os.path.isfile(path) for path in paths):
            raise ConfigFileError(f"config: observation {observation['name']}: no raw file matches {pattern}")
        for path in paths:
            exposure = Path(path).name.removesuffix(".fits")
            _check_raw_file(observation, path, exposure, output)
            earlier = exposures.get(exposure)
            if earlier is not None and not os.path.samefile(earlier, path):
                raise ConfigFileError(
                    f"config: observation {observation['name']}: {earlier} and {path} are both exposure {exposure} "
                    f"(their products would have one name)"
                )
            exposures[exposure] = path
    return exposures


def _check_raw_file(observation, path, exposure, output):
    """Refuse what is not a raw exposure: a product, truth, catalogue or reference file, or a file under the
    output directory, or a name a FITS header cannot hold."""
    name = observation["name"]
    if not path.endswith(".fits"):
        raise ConfigFileError(f"config: observation {name}: {path} is not a .fits file")
    if not _HEADER_SAFE.match(exposure):
        raise ConfigFileError(
            f"config: observation {name}: {path}: the name holds characters a FITS header cannot (printable ASCII only)"
        )
    kind = (
        "a product of the workflow" if _PRODUCT_STEM.search(exposure)
        else "a truth or catalogue file of the simulator" if _TRUTH_STEM.search(exposure)
        else "a reference file" if _REFERENCE_STEM.match(exposure)
        else None
    )
    if kind:
        raise ConfigFileError(f"config: observation {name}: {path} is {kind}, not a raw exposure")
    if Path(path).resolve().is_relative_to(Path(output).resolve()):
        raise ConfigFileError(f"config: observation {name}: {path} lies under the output directory {output}")


def _check_unique_names(config):
    """Observation and calibration names are unique, and none is a directory of the workflow's own."""
    for kind in ("observations", "calibrations"):
        seen = set()
        for entry in config.get(kind, []):
            name = entry["name"]
            if name in seen:
                raise ConfigFileError(f"config: {kind}: two are named {name} (their products would mix)")
            if kind == "observations" and name in RESERVED_NAMES:
                raise ConfigFileError(
                    f"config: observations: {name} is a directory of the workflow's own under output_dir "
                    f"({', '.join(RESERVED_NAMES)}); rename the observation"
                )
            seen.add(name)


#: What each type of calibration may name: another calibration's product it uses (dark, flat), or a file.
CALIBRATION_LINKS = {"dark": ("dark",), "flat": ("dark",), "distortion": ("dark", "flat", "catalog")}


def _check_calibration_links(calibrations):
    """A calibration's ``dark`` and ``flat`` name a calibration of that type, its ``catalog`` is a file, and it
    gives only those its type uses."""
    types = {calibration["name"]: calibration["type"] for calibration in calibrations}
    for calibration in calibrations:
        name, kind = calibration["name"], calibration["type"]
        for link in ("dark", "flat", "catalog"):
            value = calibration.get(link)
            if value is None:
                continue
            if link not in CALIBRATION_LINKS[kind]:
                raise ConfigFileError(f"config: calibration {name}: a {kind} calibration takes no {link}")
            if link == "catalog":
                if not os.path.isfile(value):
                    raise ConfigFileError(f"config: calibration {name}: catalog {value} is not a file")
            elif types.get(value) != link:
                raise ConfigFileError(f"config: calibration {name}: {link} {value} is not a {link} calibration of this config")


def _check_no_clash(name, frames, ramps):
    """A ramp's exposure is not also a raw frame's: detector1's frame of the ramp would replace it."""
    clash = sorted(set(frames) & set(ramps))
    if clash:
        raise ConfigFileError(
            f"config: observation {name}: {frames[clash[0]]} and {ramps[clash[0]]} are both exposure {clash[0]}"
        )


def _merges(observation, output):
    """{(observation, full-frame exposure): [subarray exposures]}, matched on the EXPOSURE keyword."""
    name = observation["name"]
    full = {}
    for exposure, path in expand_patterns(observation, observation.get("raw", []), output).items():
        full.setdefault(_exposure_number(path), []).append(exposure)
    merges = {}
    for exposure, path in expand_patterns(observation, observation.get("subarrays", []), output).items():
        number = _exposure_number(path)
        frames = full.get(number, [])
        if len(frames) != 1:
            problem = "no full frame" if not frames else f"{len(frames)} full frames ({', '.join(frames)})"
            raise ConfigFileError(f"config: observation {name}: {path} has {problem} of exposure {number}")
        merges.setdefault((name, frames[0]), []).append(exposure)
    return merges


def _mosaic_members(observation, output, ramps, merges):
    """The L2b frames of an observation's mosaic: each full-frame exposure's _merged product where its subarrays
    are merged, else its _cal. Subarray frames are windows of those exposures (the same photons), so never
    members of their own."""
    name = observation["name"]
    full = {*expand_patterns(observation, observation.get("raw", []), output), *ramps}
    return [
        f"{output}/{name}/{exposure}_{'merged' if (name, exposure) in merges else 'cal'}.fits"
        for exposure in sorted(full)
    ]


def _exposure_number(path):
    try:
        return fits.getval(path, "EXPOSURE")
    except (OSError, KeyError) as error:
        raise ConfigFileError(f"{path}: no EXPOSURE keyword to match subarrays on ({error})") from error


def _backgrounds(observation, frames, output):
    """{(observation, exposure): [background exposure paths]} from the observation's association files."""
    name = observation["name"]
    by_path = {Path(path).resolve(): exposure for exposure, path in frames.items()}
    backgrounds = {}
    for association in expand_patterns_of_kind(observation, observation.get("associations", []), ".json"):
        for product in load_association(association):
            for science in product.science:
                if science not in by_path:
                    raise ConfigFileError(
                        f"config: observation {name}: {association}: science member {science.name} is not one of its raw frames"
                    )
                if product.background:
                    backgrounds[(name, by_path[science])] = [str(path) for path in product.background]
    return backgrounds


def expand_patterns_of_kind(observation, patterns, suffix):
    """The files matching ``patterns`` (each must match one), for files other than raw frames."""
    paths = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched or not all(os.path.isfile(path) and path.endswith(suffix) for path in matched):
            raise ConfigFileError(f"config: observation {observation['name']}: no {suffix} file matches {pattern}")
        paths += matched
    return paths
