"""Simulate one observation: raw count-rate frames, matching mask/dark/flat references, and their truth.

Every quantity is a rate in DN/s. With the scene S (``scene.py``), the true flat F and dark D
(``detector.py``), exposure time t, gain g (e-/DN) and read noise r (DN), each raw frame is

    SCI = Poisson(g (F S + D) t) / (g t) + (r / t) N(0, 1)
    ERR = sqrt(max(SCI, 0) / (g t) + (r / t)**2),    DQ = 0

so a perfect calibration, (SCI - D) / F, recovers S. The references are the truth plus a small
measurement error: dark SCI = D + N(0, 0.002) with ERR 0.002 DN/s, flat SCI = F + N(0, 0.002) with ERR 0.002
(exactly 0 on dead pixels, so the flat-field step flags them).

Geometry: the detector centre, 1-based pixel ((nx + 1) / 2, (ny + 1) / 2), points at the exposure's
(RA_PNT, DEC_PNT); +Y lies PA_DET east of north, and at PA_DET = 0 east is -X. Sky coordinates come from an
astropy TAN WCS written in the CROTA form (CDELT1 = -s, CDELT2 = s, CROTA2 = -PA_DET), deliberately not the
pipeline's PC-matrix form, so the catalogue is an independent check of the pipeline's WCS. Raw frames
carry no WCS keywords, only the pointing and PIXSCALE. Exposure 1 points at ``pointing``; later exposures
are dithered by up to ``MAX_DITHER_PIXELS`` in x and y, converted to pointing offsets, and see the same stars
(same RA/Dec) at their own x/y.

Files written to ``output_dir`` (``<obs>`` = ``{semester}-{program}-{observation}_{IRIS|Liger}_{detector}``):

- ``<obs>_SCI_LVL1_{exposure:04d}.fits``: raw frame (ImagerModel, BUNIT DN/s).
- ``<obs>_SCI_LVL1_{exposure:04d}_catalog.ecsv``: stars (id, ra, dec, x, y, flux) in that exposure: ra/dec
  in deg (ICRS), x/y 0-based pixel centres, flux the total DN/s of the star. Table meta: sigma_pixels,
  fwhm_pixels, sky_rate, exposure_time, gain, read_noise, pixel_scale, pointing_ra/dec, pa_deg, exposure.
- ``<obs>_SCI_LVL1_{exposure:04d}_truth.fits``: the noise-free scene S (ImagerModel: SCI = S in DN/s,
  ERR = 0, DQ = 0, metadata as the raw frame).
- ``<obs>_truth_flat.fits``, ``<obs>_truth_dark.fits``: the true F and D without measurement error
  (FlatModel / DarkModel, ERR = 0, DQ as the references).
- ``{IRIS|Liger}_{detector}_{MASK|DARK|FLAT}_20200101T000000_1.fits``: the references (BUNIT of each kind:
  ``REFERENCE_UNITS``).
- With ``distortion_pixels`` (frames drawn through the geometric distortion of ``distortion.py``):
  ``{IRIS|Liger}_{detector}_DISTORTION_20200101T000000_1.asdf``, the distortion reference (the truth, or with
  ``distortion_reference_error`` an older solution: every coefficient off by N(0, that fraction)), and
  ``<obs>_truth_distortion.asdf``, the true one; the catalogues then give each star's detector x/y (where it is
  drawn) and its ideal (undistorted) x_ideal/y_ideal.
- ``<obs>_<NAME>_LVL1_{exposure:04d}.fits``, with ``subarrays``: the raw frame of subarray NAME (the
  subarray's name takes the place of the image type SCI, so these never match ``*_SCI_LVL1_*``).
- With ``ramp`` (a ``ramp.RampReadout``), also the up-the-ramp reads of every exposure (``ramp.py`` has the
  physics): ``<obs>_SCI_LVL0_{exposure:04d}.fits`` (RampModel, DN, EXPTIME = (NGROUPS - 1) TGROUP),
  ``<obs>_SCI_LVL0_{exposure:04d}_truth_rate.fits`` (ImagerModel: the true rate F S + D in DN/s, which
  Detector1 should measure), ``<obs>_SCI_LVL0_{exposure:04d}_cosmic_rays.ecsv`` (integration, x, y, frame,
  group, dn of every cosmic ray) and the ``{SATURATION|NONLINEARITY|READNOISE|GAIN}`` references.

Calibration and background exposures of the same detector (same F, D and bad pixels), same exposure time:

- ``<obs>_SKY_LVL1_{n:04d}.fits`` (``n_sky``, EXP_TYPE SKY): a field ``SKY_OFFSET_ARCSEC`` north of the
  target with stars of its own, the same sky rate, dithered by up to ``SKY_DITHER_PIXELS`` and taken right
  after the science exposures; each with its ``_truth.fits`` and ``_catalog.ecsv`` like a science frame.
- ``<obs>_DARK_LVL1_{n:04d}.fits`` (``n_darks``, EXP_TYPE DARK), starting ``DARKS_BEFORE_SCIENCE`` before
  the first science exposure: SCI = Poisson(g D t) / (g t) + (r / t) N(0, 1). Truth: ``<obs>_truth_dark.fits``
  (its DQ holds the true HOT and WARM pixels).
- ``<obs>_FLAT_LVL1_{n:04d}.fits`` (``n_flats``, dome: EXP_TYPE FLAT, uniform lamp ``flat_rate``) or
  ``<obs>_TWILIGHT_LVL1_{n:04d}.fits`` (twilight: the sky fading by ``TWILIGHT_FADING`` per exposure), starting
  ``FLATS_BEFORE_SCIENCE`` before the science: SCI = Poisson(g (F I_n + D) t) / (g t) + (r / t) N(0, 1).
  Truth: ``<obs>_truth_flat.fits``.

Subarrays: each of ``subarrays`` is a window (NAME, XSTART, YSTART, XSIZE, YSIZE) in 1-based FITS detector
pixels, inside the detector, overlapping no other, NAME letters and digits (not FULL or SCI, which name the
full frame). The full frame then carries a SUBARR_MAP (uint16: 0 outside every window, k inside the k-th
one), SUBARRID 0 and DETXSIZE/DETYSIZE; the frame of window k carries SUBARRAY = NAME, SUBARRID = k,
SUBSTRT1/2, SUBSIZE1/2 and DETXSIZE/DETYSIZE. A real instrument reads a window separately, with noise of its
own; here the window is cut from the full frame's SCI, ERR and DQ (the same noise realisation), so reducing
it alone must give exactly the full frame's result on those pixels.

Dithers, pointing errors, residual cosmic rays and hot pixels, and the IRIS mosaic: ``dither.py``. IRIS's
imager has four detectors, a 2 x 2 mosaic of 4k x 4k H4RG-10 (https://www.tmt.org/page/iris); with
``n_detectors=4`` every exposure gives one frame per detector, ``<obs>`` naming IMG1..IMG4.

Random numbers come from independent streams spawned from ``seed`` (detector, scene, references, and one
per exposure), so the detector, stars and first exposures do not change with ``n_exposures``.
"""

import numbers
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from .. import datamodels
from ..instruments import FILE_INSTRUMENT, IMAGERS, Imager
from ..dqflags import pixel as pixel_flags
from ..reference_names import reference_file_name
from . import detector, dither, ramp, scene
from .distortion import DistortionField

#: Default PSF width: about lambda / D in Ks on TMT (30 m) and Keck (10 m).
DEFAULT_FWHM_ARCSEC = {"IRIS": 0.016, "LIGER": 0.050}
#: Default star density: one star per this many pixels.
PIXELS_PER_STAR = 64 * 64
MAX_DITHER_PIXELS = 4.0
#: Closest a star comes to a frame edge in the undithered frame: 10 pixels plus the largest dither.
STAR_MARGIN = 10 + int(np.ceil(MAX_DITHER_PIXELS)) + 1
#: Time between the starts of consecutive exposures, beyond the exposure time [s].
EXPOSURE_OVERHEAD = 10.0
REFERENCE_ERROR = {"dark": 0.002, "flat": 0.002}  # DN/s, relative response
USEAFTER = "2020-01-01T00:00:00"
#: Offset of the sky (background) field from the target, and the dither between sky exposures.
SKY_OFFSET_ARCSEC = 60.0
SKY_DITHER_PIXELS = 25.0
#: Dark and flat exposures start this long before the first science exposure [s].
DARKS_BEFORE_SCIENCE = 4 * 3600.0
FLATS_BEFORE_SCIENCE = 2 * 3600.0
#: EXP_TYPE (and image type in file names) of the flat exposures, and the fading of twilight between them.
FLAT_EXPOSURE_TYPES = {"dome": "FLAT", "twilight": "TWILIGHT"}
#: Image type in the raw file names, by EXP_TYPE.
IMAGE_TYPES = {"SCIENCE": "SCI", "SKY": "SKY", "DARK": "DARK", "FLAT": "FLAT", "TWILIGHT": "TWILIGHT"}
TWILIGHT_FADING = 0.7
REFERENCE_VERSION = 1
#: BUNIT of each kind of reference (design.md); masks and nonlinearity coefficients carry none.
REFERENCE_UNITS = {"dark": "DN/s", "flat": "", "readnoise": "DN", "saturation": "DN", "gain": "electron/DN"}
ORIGIN = "liger_iris_pipeline simulator"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9]+$")
FULL_FRAME = "FULL"
#: Subarray names taken by the full frame: its SUBARRAY value and its image type in file names.
RESERVED_SUBARRAY_NAMES = (FULL_FRAME, "SCI")


@dataclass(frozen=True)
class Subarray:
    """A detector window read out as a frame of its own; ``xstart``/``ystart`` are 1-based FITS pixels."""

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int

    @property
    def window(self):
        """The (rows, columns) slices of the window in a full-frame array."""
        rows = slice(self.ystart - 1, self.ystart - 1 + self.ysize)
        columns = slice(self.xstart - 1, self.xstart - 1 + self.xsize)
        return rows, columns

    def overlaps(self, other):
        """Whether the two windows share a pixel."""
        rows, columns = self.window
        other_rows, other_columns = other.window
        return all(
            mine.start < theirs.stop and theirs.start < mine.stop
            for mine, theirs in ((rows, other_rows), (columns, other_columns))
        )


@dataclass(frozen=True)
class SimulatedObservation:
    """Paths of everything ``simulate_observation`` wrote; per-exposure tuples are in exposure order."""

    raw: tuple[Path, ...]
    catalogs: tuple[Path, ...]
    truth: tuple[Path, ...]
    mask: Path
    dark: Path
    flat: Path
    true_flat: Path
    true_dark: Path
    #: Per exposure, the raw frames of its subarrays in the order they were given (empty without subarrays).
    subarrays: tuple[tuple[Path, ...], ...]
    #: Background (sky) exposures of an empty field nearby, taken after the science exposures, and their truth.
    sky: tuple[Path, ...] = ()
    sky_truth: tuple[Path, ...] = ()
    #: Dark and flat (dome or twilight) exposures, taken before the science exposures.
    darks: tuple[Path, ...] = ()
    flats: tuple[Path, ...] = ()
    #: With ``ramp``: per exposure its ramp, true rate and cosmic-ray list; the readout references by type.
    ramps: tuple[Path, ...] = ()
    true_rates: tuple[Path, ...] = ()
    cosmic_rays: tuple[Path, ...] = ()
    ramp_references: dict = field(default_factory=dict)
    #: With residual cosmic rays or hot pixels: per exposure the table of them (``_outliers.ecsv``).
    outliers: tuple[Path, ...] = ()
    #: With a distortion: its reference (true or an older solution) and the true distortion (DistortionModel).
    distortion: Path | None = None
    true_distortion: Path | None = None
    #: The other detectors of a mosaic, each a SimulatedObservation of its own.
    mosaic: tuple["SimulatedObservation", ...] = ()

    def all_paths(self):
        """Every written path: per exposure raw, catalogue, truth, subarray frames; then references and truth;
        then the ramps, their truth and the readout references; the outlier tables; the other detectors'."""
        per_exposure = [
            path
            for raw, catalog, truth, subarrays in zip(self.raw, self.catalogs, self.truth, self.subarrays)
            for path in (raw, catalog, truth, *subarrays)
        ]
        calibration = [*self.sky, *self.sky_truth, *self.darks, *self.flats]
        ramp_files = [path for paths in zip(self.ramps, self.true_rates, self.cosmic_rays) for path in paths]
        return [
            *per_exposure, self.mask, self.dark, self.flat, self.true_flat, self.true_dark, *calibration,
            *ramp_files, *self.ramp_references.values(), *self.outliers,
            *(path for path in (self.distortion, self.true_distortion) if path is not None),
            *(path for other in self.mosaic for path in other.all_paths()),
        ]


@dataclass(frozen=True)
class _Setup:
    """What every exposure of the observation shares."""

    imager: Imager
    shape: tuple[int, int]
    filter_name: str
    program: str
    observation: str
    exposure_time: float
    gain: float
    read_noise: float
    sky_rate: float
    sigma: float  # Gaussian PSF width [pixels]
    target: tuple[float, float]  # nominal pointing (RA, Dec) [deg]
    pa_deg: float
    subarrays: tuple[Subarray, ...]
    readout: ramp.RampReadout | None = None
    ramp_detector: ramp.RampDetector | None = None
    residual_cosmic_rays: int = 0  # per exposure
    residual_hot_pixels: int = 0  # per detector
    distortion: DistortionField | None = None  # the true geometric distortion
    distortion_reference_error: float = 0.0  # relative error of the written reference's coefficients


def simulate_observation(
    output_dir,
    instrument="IRIS",
    size=None,
    n_exposures=1,
    seed=0,
    n_stars=None,
    exposure_time=60.0,
    sky_rate=5.0,
    fwhm_arcsec=None,
    flux_range=(50.0, 5.0e4),
    flux_power_index=2.0,
    filter_name="Ks",
    program="P001",
    observation="001",
    semester="2027A",
    date="2027-05-01T08:00:00",
    pointing=(150.0, 2.0),
    pa_deg=0.0,
    gain=2.0,
    read_noise=3.0,
    subarrays=(),
    n_sky=0,
    sky_stars=None,
    n_darks=0,
    n_flats=0,
    flat_type="dome",
    flat_rate=2000.0,
    bad_pixels_per_megapixel=None,
    readout=None,
    dither_positions=None,
    dither_step=dither.DEFAULT_DITHER_STEP_ARCSEC,
    pointing_error_mas=None,
    max_rotation_deg=None,
    residual_cosmic_rays=0,
    residual_hot_pixels=0,
    n_detectors=1,
    detector_gap=dither.DEFAULT_GAP_ARCSEC,
    distortion_pixels=None,
    distortion_reference_error=0.0,
):
    """Write ``n_exposures`` raw frames of a random star field, their references and truth to ``output_dir``.

    ``size`` (pixels per side) defaults to the full detector; ``n_stars`` to one star per 64 x 64 pixels;
    ``fwhm_arcsec`` to the diffraction limit in Ks (IRIS 0.016", LIGER 0.050"). Fluxes (DN/s) follow
    dN/dF ~ F**-flux_power_index within ``flux_range``. ``subarrays``: windows (name, xstart, ystart, xsize,
    ysize), each also written as a raw frame of its own (module docstring). ``n_sky``, ``n_darks``, ``n_flats``:
    background (sky), dark and flat exposures of the same detector (module docstring); ``flat_type`` dome or
    twilight, ``flat_rate`` the illumination of the first flat [DN/s]. ``bad_pixels_per_megapixel`` overrides
    the detector's bad-pixel densities by kind (dead, low_qe, hot, warm). ``readout`` (a ``ramp.RampReadout``)
    also writes each science exposure's up-the-ramp reads.

    Dithers and mosaics (``dither.py`` has the geometry): ``dither_positions`` (4, 9, ... = n**2) takes one
    exposure per position of an n x n grid ``dither_step`` arcsec apart (``n_exposures`` is then that number).
    Each exposure's true boresight misses the commanded one (the header's) by N(0, ``pointing_error_mas``) mas
    east and north, and the detector is rotated by U(-``max_rotation_deg``, ``max_rotation_deg``) that PA_DET
    does not carry (defaults: 20 mas and 0.01 deg with a dither pattern, none without). ``residual_cosmic_rays``
    hits per exposure and ``residual_hot_pixels`` per detector are left in the raw frames, flagged nowhere.
    ``n_detectors`` 4 (IRIS) simulates the whole 2 x 2 mosaic, ``detector_gap`` arcsec apart, one frame per
    detector and exposure; the boresight is then at the centre of the mosaic. ``distortion_pixels`` draws the
    frames through a geometric distortion of that largest displacement [pixels] (``distortion.py``) and writes
    its reference, with ``distortion_reference_error`` an older solution's (coefficients off by that fraction,
    relative). Raises ValueError for a bad
    parameter. Returns a SimulatedObservation of the written paths (of the other detectors in ``mosaic``).
    """
    instrument = str(instrument).upper()
    if instrument not in IMAGERS:
        raise ValueError(f"instrument must be one of {', '.join(IMAGERS)}, got {instrument!r}")
    imager = IMAGERS[instrument]
    size = imager.size if size is None else size
    given_stars = n_stars
    n_stars = size * size // PIXELS_PER_STAR if n_stars is None else n_stars
    fwhm_arcsec = DEFAULT_FWHM_ARCSEC[instrument] if fwhm_arcsec is None else fwhm_arcsec
    _check_parameters(size, n_exposures, n_stars, exposure_time, sky_rate, fwhm_arcsec, gain, read_noise)
    size, n_exposures, n_stars = int(size), int(n_exposures), int(n_stars)
    for name, value in (("program", program), ("observation", observation), ("semester", semester)):
        if not _IDENTIFIER.match(str(value)):
            raise ValueError(f"{name} must be letters and digits only, got {value!r}")
    subarrays = _check_subarrays(subarrays, size)
    if flat_type not in FLAT_EXPOSURE_TYPES:
        raise ValueError(f"flat_type must be one of {', '.join(FLAT_EXPOSURE_TYPES)}, got {flat_type!r}")
    for name, value in (("n_sky", n_sky), ("sky_stars", sky_stars or 0), ("n_darks", n_darks), ("n_flats", n_flats)):
        if not (int(value) == value and value >= 0):
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if not flat_rate > 0:
        raise ValueError(f"flat_rate must be > 0, got {flat_rate!r}")
    n_exposures = _check_dither(
        n_exposures, dither_positions, dither_step, pointing_error_mas, max_rotation_deg, residual_cosmic_rays,
        residual_hot_pixels, detector_gap,
    )
    ra, dec = float(pointing[0]) % 360.0, float(pointing[1])
    if not -90.0 < dec < 90.0:
        raise ValueError(f"pointing declination must be within (-90, 90) deg, got {dec}")
    start = Time(date, format="isot", scale="utc")
    streams = np.random.SeedSequence(seed).spawn(9)
    pointing_stream, defect_stream, mosaic_stream = streams[8].spawn(3)
    detector_stream, scene_stream, reference_stream, noise_stream, sky_stream, dark_stream, flat_stream = streams[:7]
    ramp_detector_stream, ramp_noise_stream = streams[7].spawn(2)
    setup = _Setup(
        imager=imager,
        shape=(size, size),
        filter_name=filter_name,
        program=str(program),
        observation=str(observation),
        exposure_time=float(exposure_time),
        gain=float(gain),
        read_noise=float(read_noise),
        sky_rate=float(sky_rate),
        sigma=fwhm_arcsec / imager.pixel_scale / scene.FWHM_PER_SIGMA,
        target=(ra, dec),
        pa_deg=float(pa_deg),
        subarrays=subarrays,
        readout=readout,
        ramp_detector=readout and ramp.make_ramp_detector(
            np.random.default_rng(ramp_detector_stream), (size, size), gain, read_noise
        ),
        residual_cosmic_rays=int(residual_cosmic_rays),
        residual_hot_pixels=int(residual_hot_pixels),
        distortion=_distortion_field(distortion_pixels, distortion_reference_error, (size, size), filter_name),
        distortion_reference_error=float(distortion_reference_error),
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    placements = dither.layout(instrument, n_detectors, size, detector_gap / imager.pixel_scale)
    field = _draw_field(
        setup, placements, n_exposures, dither_positions, dither_step / imager.pixel_scale,
        (given_stars and n_stars, flux_range, flux_power_index), np.random.default_rng(scene_stream),
    )
    dithered = dither_positions is not None
    pointing_error_mas = (dither.DEFAULT_POINTING_ERROR_MAS if dithered else 0.0) if pointing_error_mas is None else pointing_error_mas
    max_rotation_deg = (dither.DEFAULT_MAX_ROTATION_DEG if dithered else 0.0) if max_rotation_deg is None else max_rotation_deg
    pointings = dither.pointing_errors(
        np.random.default_rng(pointing_stream), field.commanded, float(pointing_error_mas), float(max_rotation_deg)
    )
    cadence = (exposure_time + EXPOSURE_OVERHEAD) * u.s
    timing = (start, cadence, n_sky, sky_stars, n_darks, n_flats, flat_type, flat_rate)
    first_streams = _DetectorStreams(
        detector_stream, reference_stream, noise_stream, sky_stream, dark_stream, flat_stream, ramp_noise_stream,
        defect_stream,
    )
    observations = []
    other_streams = [child.spawn(9) for child in mosaic_stream.spawn(len(placements) - 1)]
    for index, placement in enumerate(placements):
        detector_setup, detector_streams = setup, first_streams
        if index:
            *own_streams, ramp_detector_stream = other_streams[index - 1]
            detector_streams = _DetectorStreams(*own_streams)
            detector_setup = replace(
                setup, imager=replace(imager, detector=placement.name),
                ramp_detector=readout and ramp.make_ramp_detector(
                    np.random.default_rng(ramp_detector_stream), setup.shape, gain, read_noise
                ),
            )
        observations.append(
            _simulate_detector(
                output_dir, f"{semester}-{program}-{observation}_{FILE_INSTRUMENT[instrument]}_{placement.name}",
                detector_setup, placement, field, pointings, timing, detector_streams, bad_pixels_per_megapixel,
            )
        )
    return replace(observations[0], mosaic=tuple(observations[1:]))


@dataclass(frozen=True)
class _Field:
    """The science field: star ids, sky positions and fluxes, and the commanded boresight of each exposure."""

    stars: Table
    commanded: list  # (RA, Dec) [deg] per exposure
    frame_stars: int  # stars in one frame's area (the default of the sky field's)
    flux_model: tuple  # (flux range, power index)


@dataclass(frozen=True)
class _DetectorStreams:
    """The random streams of one detector: its properties, references, exposures and residual defects."""

    detector: np.random.SeedSequence
    reference: np.random.SeedSequence
    noise: np.random.SeedSequence
    sky: np.random.SeedSequence
    dark: np.random.SeedSequence
    flat: np.random.SeedSequence
    ramp_noise: np.random.SeedSequence
    defects: np.random.SeedSequence


def _draw_field(setup, placements, n_exposures, dither_positions, step_pixels, stars, rng):
    """Draw the stars once on the sky and the commanded boresight of every exposure.

    One undithered detector (the default): stars ``STAR_MARGIN`` inside the frame and random dithers of up to
    ``MAX_DITHER_PIXELS``. A dither pattern or a mosaic: stars anywhere in the box the detectors cover over the
    whole pattern, ``n_stars`` (default: one per ``PIXELS_PER_STAR`` of that box) in all.
    """
    n_stars, flux_range, flux_power_index = stars
    frame_stars = setup.shape[0] * setup.shape[1] // PIXELS_PER_STAR if n_stars is None else n_stars
    offsets = None if dither_positions is None else dither.grid_offsets(dither_positions, step_pixels)
    if offsets is None and len(placements) == 1:
        field_shape, margin = setup.shape, STAR_MARGIN
    else:
        reach = MAX_DITHER_PIXELS if offsets is None else float(np.abs(offsets).max())
        corner = max(max(abs(value) for value in placement.offset) for placement in placements)
        side = int(np.ceil(2 * (corner + setup.shape[0] / 2.0 + reach)))
        field_shape, margin = (side, side), 0
        n_stars = n_stars if n_stars is not None else side * side // PIXELS_PER_STAR
    n_stars = frame_stars if n_stars is None else n_stars
    x, y = scene.random_positions(rng, n_stars, field_shape, margin)
    flux = scene.power_law_fluxes(rng, n_stars, flux_range, flux_power_index)
    field_wcs = tan_wcs(setup.target, setup.pa_deg, setup.imager.pixel_scale, field_shape)
    ra, dec = field_wcs.all_pix2world(x, y, 0)
    if offsets is None:
        offsets = np.vstack([[0.0, 0.0], rng.uniform(-MAX_DITHER_PIXELS, MAX_DITHER_PIXELS, (n_exposures - 1, 2))])
    table = Table({"id": np.arange(1, n_stars + 1), "ra": ra, "dec": dec, "flux": flux})
    commanded = _commanded_pointings(field_wcs, field_shape, offsets)
    return _Field(table, commanded, frame_stars, (flux_range, flux_power_index))


def _commanded_pointings(field_wcs, shape, offsets):
    """(RA, Dec) of the frame centre of ``field_wcs`` (of ``shape``) moved by each of ``offsets`` pixels."""
    centre = (shape[0] - 1) / 2.0 + np.asarray(offsets, float)
    return [tuple(float(value) for value in field_wcs.all_pix2world(x, y, 0)) for x, y in centre]


def _simulate_detector(output_dir, prefix, setup, placement, field, pointings, timing, streams, bad_pixels_per_megapixel):
    """Write everything of one detector: its science exposures of ``field``, sky, dark and flat exposures,
    references and truth. Returns its SimulatedObservation."""
    start, cadence, n_sky, sky_stars, n_darks, n_flats, flat_type, flat_rate = timing
    n_exposures = len(pointings)
    true_detector = detector.make_detector(
        np.random.default_rng(streams.detector), setup.shape, bad_pixels_per_megapixel
    )
    hot_stream, cosmic_ray_stream = streams.defects.spawn(2)
    residual_hot = _add_residual_hot_pixels(true_detector, setup.residual_hot_pixels, np.random.default_rng(hot_stream))
    exposures = [_ExposureGeometry.of(setup, placement, pointing) for pointing in pointings]
    written = _observe_field(
        output_dir, prefix, "SCIENCE", setup, true_detector, field.stars, exposures,
        [start + index * cadence for index in range(n_exposures)], streams.noise.spawn(n_exposures), setup.subarrays,
        streams.ramp_noise.spawn(n_exposures), (residual_hot, cosmic_ray_stream.spawn(n_exposures)),
    )
    raw_paths, catalog_paths, truth_paths, subarray_paths, ramp_paths, outlier_paths = zip(*written)
    sky = _observe_sky(
        output_dir, prefix, setup, true_detector, n_sky, start + n_exposures * cadence, cadence,
        (field.frame_stars if sky_stars is None else int(sky_stars), *field.flux_model), streams.sky,
    )
    darks = _write_calibration_exposures(
        output_dir, prefix, "DARK", setup, true_detector, [0.0] * n_darks, start - DARKS_BEFORE_SCIENCE * u.s,
        cadence, streams.dark,
    )
    levels = flat_rate * (TWILIGHT_FADING ** np.arange(n_flats) if flat_type == "twilight" else np.ones(n_flats))
    flats = _write_calibration_exposures(
        output_dir, prefix, FLAT_EXPOSURE_TYPES[flat_type], setup, true_detector, levels,
        start - FLATS_BEFORE_SCIENCE * u.s, cadence, streams.flat,
    )

    references = _write_references(
        output_dir, setup, true_detector, np.random.default_rng(streams.reference), residual_hot
    )
    if setup.distortion is not None:
        (distortion_stream,) = streams.reference.spawn(1)  # leaves the other references' stream as it was
        references.update(_write_distortion(output_dir, prefix, setup, np.random.default_rng(distortion_stream)))
    true_flat = datamodels.FlatModel(data=true_detector.flat, err=np.zeros(setup.shape, np.float32))
    _describe_reference(true_flat, setup, "True (noise-free) flat of the simulation")
    true_dark_dq = true_detector.dark_dq.copy()
    true_dark_dq.reshape(-1)[residual_hot[0]] |= pixel_flags["HOT"]
    true_dark = datamodels.DarkModel(data=true_detector.dark, err=np.zeros(setup.shape, np.float32), dq=true_dark_dq)
    _describe_reference(true_dark, setup, "True (noise-free) dark rate of the simulation")
    return SimulatedObservation(
        raw=raw_paths,
        catalogs=catalog_paths,
        truth=truth_paths,
        **references,
        true_flat=_save(true_flat, output_dir / f"{prefix}_truth_flat.fits"),
        true_dark=_save(true_dark, output_dir / f"{prefix}_truth_dark.fits"),
        subarrays=subarray_paths,
        sky=tuple(path for path, *_ in sky),
        sky_truth=tuple(truth for _, _, truth, *_ in sky),
        darks=darks,
        flats=flats,
        outliers=tuple(path for path in outlier_paths if path is not None),
        **_ramp_outputs(output_dir, setup, ramp_paths),
    )


def _ramp_outputs(output_dir, setup, ramp_paths):
    """The SimulatedObservation fields of the ramps: their paths and the readout references (written here)."""
    if setup.readout is None:
        return {}
    ramps, true_rates, cosmic_rays = zip(*ramp_paths)
    truth = setup.ramp_detector
    references = {
        "saturation": (datamodels.SaturationModel(data=truth.saturation), "Simulated saturation level [DN]"),
        "nonlinearity": (
            datamodels.NonlinearityModel(coeffs=truth.nonlinearity_coefficients()),
            "Simulated nonlinearity: series inverse of M = L (1 - b L)",
        ),
        "readnoise": (
            datamodels.ReadnoiseModel(data=(np.sqrt(2.0) * truth.read_noise).astype(np.float32)),
            "Simulated CDS read noise [DN]",
        ),
        "gain": (datamodels.GainModel(data=truth.gain), "Simulated gain [e-/DN]"),
    }
    return {
        "ramps": ramps,
        "true_rates": true_rates,
        "cosmic_rays": cosmic_rays,
        "ramp_references": _save_references(output_dir, setup, references),
    }


def _raw_name(prefix, image_type, number):
    """File name of a raw frame: SCI for the full frame, the subarray's name for a window."""
    return f"{prefix}_{image_type}_LVL1_{number:04d}.fits"


@dataclass(frozen=True)
class _ExposureGeometry:
    """How one detector looks at the sky in one exposure: the header's pointing, the true WCS and its truth."""

    header_pointing: tuple[float, float]  # RA_PNT, DEC_PNT: where the detector centre was commanded to look
    true_wcs: WCS
    truth: dict  # catalogue meta: detector, commanded and true boresight, rotation, pointing error, true WCS

    @classmethod
    def of(cls, setup, placement, pointing):
        """The geometry of ``placement``'s detector when the telescope was commanded to, and did, ``pointing``."""
        scale, shape = setup.imager.pixel_scale, setup.shape
        true_pa = setup.pa_deg + pointing.rotation_deg
        if placement.offset == (0.0, 0.0) and not placement.rotation_deg:
            header_pointing = pointing.commanded
            true_wcs = tan_wcs(pointing.true, true_pa, scale, shape)
        else:
            commanded_wcs = dither.detector_wcs(
                tan_wcs(pointing.commanded, setup.pa_deg, scale, shape), pointing.commanded, placement, shape
            )
            centre = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
            header_pointing = tuple(float(value) for value in commanded_wcs.all_pix2world(*centre, 0))
            true_wcs = dither.detector_wcs(tan_wcs(pointing.true, true_pa, scale, shape), pointing.true, placement, shape)
        truth = {
            "detector": placement.name,
            "focal_plane_offset": [float(value) for value in placement.offset],
            "focal_plane_rotation_deg": placement.rotation_deg,
            "commanded_boresight": list(pointing.commanded),
            "true_boresight": list(pointing.true),
            "true_rotation_deg": pointing.rotation_deg,
            "pointing_error_mas": list(pointing.error_mas),
            "true_wcs": {key: value for key, value in true_wcs.to_header(relax=False).items() if key not in ("DATE-OBS", "MJD-OBS")},
        }
        return cls(tuple(header_pointing), true_wcs, truth)


def _observe_field(
    output_dir, prefix, exposure_type, setup, true_detector, stars, exposures, starts, streams, subarrays,
    ramp_streams=None, defects=None,
):
    """Write one exposure of the ``stars`` (id, ra, dec, flux) per geometry of ``exposures``, start time and
    noise stream; with ``setup.readout`` and ``ramp_streams`` also its ramp; ``defects`` = (residual hot pixels,
    one cosmic-ray stream per exposure). Returns ``_write_exposure``'s paths for each exposure."""
    written = []
    ramp_streams = ramp_streams or [None] * len(streams)
    residual_hot, cosmic_ray_streams = defects or (None, [None] * len(streams))
    for number, (geometry, start, stream, ramp_stream, cosmic_ray_stream) in enumerate(
        zip(exposures, starts, streams, ramp_streams, cosmic_ray_streams), start=1
    ):
        raw_path = output_dir / _raw_name(prefix, IMAGE_TYPES[exposure_type], number)
        subarray_paths = tuple(output_dir / _raw_name(prefix, subarray.name, number) for subarray in subarrays)
        written.append(
            _write_exposure(
                raw_path, subarray_paths, setup, true_detector, stars.copy(), number, start, geometry,
                np.random.default_rng(stream), exposure_type, ramp_stream and np.random.default_rng(ramp_stream),
                (residual_hot, cosmic_ray_stream and np.random.default_rng(cosmic_ray_stream)),
            )
        )
    return written


def _observe_sky(output_dir, prefix, setup, true_detector, n_sky, first_start, cadence, stars, stream):
    """Write ``n_sky`` exposures of a field ``SKY_OFFSET_ARCSEC`` north of the target, with stars of its own
    (``stars`` = (number, flux range, power index)), dithered by up to ``SKY_DITHER_PIXELS``."""
    if not n_sky:
        return []
    n_stars, flux_range, flux_power_index = stars
    field_stream, *noise_streams = stream.spawn(n_sky + 1)
    rng = np.random.default_rng(field_stream)
    target = (setup.target[0], setup.target[1] + SKY_OFFSET_ARCSEC / 3600.0)
    sky_wcs = tan_wcs(target, setup.pa_deg, setup.imager.pixel_scale, setup.shape)
    x, y = scene.random_positions(rng, n_stars, setup.shape, STAR_MARGIN)
    flux = scene.power_law_fluxes(rng, n_stars, flux_range, flux_power_index)
    ra, dec = sky_wcs.all_pix2world(x, y, 0)
    dithers = rng.uniform(-SKY_DITHER_PIXELS, SKY_DITHER_PIXELS, (n_sky, 2))
    starts = [first_start + index * cadence for index in range(n_sky)]
    exposures = [
        _ExposureGeometry.of(setup, dither.Placement(setup.imager.detector), dither.Pointing(pointing, pointing, 0.0, (0.0, 0.0)))
        for pointing in _commanded_pointings(sky_wcs, setup.shape, dithers)
    ]
    table = Table({"id": np.arange(1, n_stars + 1), "ra": ra, "dec": dec, "flux": flux})
    return _observe_field(output_dir, prefix, "SKY", setup, true_detector, table, exposures, starts, noise_streams, ())


def _write_calibration_exposures(output_dir, prefix, exposure_type, setup, true_detector, levels, first_start, cadence, stream):
    """Write one exposure of the uniform illumination ``level`` (DN/s, 0 for a dark) per level:
    SCI = Poisson(g (F level + D) t) / (g t) + read noise. Returns their paths."""
    paths = []
    for number, (level, noise) in enumerate(zip(levels, stream.spawn(len(levels))), start=1):
        rate = true_detector.flat * np.float32(level)
        rate += true_detector.dark
        raw = detector.add_noise(np.random.default_rng(noise), rate, setup.exposure_time, setup.gain, setup.read_noise)
        variances = detector.rate_variances(raw, setup.exposure_time, setup.gain, setup.read_noise)
        start = first_start + (number - 1) * cadence
        model = _exposure_model(raw, variances, setup, number, start, setup.target, exposure_type)
        paths.append(_save(model, output_dir / _raw_name(prefix, IMAGE_TYPES[exposure_type], number)))
    return tuple(paths)


def _write_exposure(
    raw_path, subarray_paths, setup, true_detector, stars, number, start, geometry, rng, exposure_type="SCIENCE",
    ramp_rng=None, defects=(None, None),
):
    """Render, add noise to and write one exposure: raw frame, its subarray frames, truth and catalogue,
    with ``setup.readout`` and ``ramp_rng`` its ramp, and with residual defects their table.

    ``stars`` holds id, ra, dec and flux; the exposure's x/y are added from its true WCS, and the catalogue
    keeps the stars whose centre falls on the frame. ``defects`` = (residual hot pixels (flat indices, rates)
    or None, cosmic-ray generator or None). Returns the raw, catalogue and truth paths, ``subarray_paths``, the
    ramp, true-rate and cosmic-ray paths (or None) and the outlier table's path (or None).
    """
    pointing = geometry.header_pointing
    stars["x"], stars["y"] = geometry.true_wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    columns = ["id", "ra", "dec", "x", "y", "flux"]
    if setup.distortion is not None:
        stars["x_ideal"], stars["y_ideal"] = stars["x"], stars["y"]
        stars["x"], stars["y"] = setup.distortion.ideal_to_detector(stars["x_ideal"], stars["y_ideal"])
        columns += ["x_ideal", "y_ideal"]
    truth = scene.scene_rate(setup.shape, stars["x"], stars["y"], stars["flux"], setup.sigma, setup.sky_rate)
    rate = true_detector.flat * truth
    rate += true_detector.dark
    raw = detector.add_noise(rng, rate, setup.exposure_time, setup.gain, setup.read_noise)
    ramp_paths = None
    if setup.readout and ramp_rng is not None:
        ramp_paths = _write_ramp(raw_path, setup, rate, number, start, pointing, ramp_rng)
    del rate
    outliers = _residual_outliers(setup, defects)
    if outliers is not None:  # a residual cosmic ray is charge the ramp fit kept: in the L1 frame only
        cosmic = outliers["kind"] == "cosmic_ray"
        np.add.at(raw, (outliers["y"][cosmic], outliers["x"][cosmic]), outliers["rate"][cosmic].astype(np.float32))
    variances = detector.rate_variances(raw, setup.exposure_time, setup.gain, setup.read_noise)

    frame = _exposure_model(raw, variances, setup, number, start, pointing, exposure_type)
    if setup.subarrays:
        ny, nx = setup.shape
        frame.subarr_map = _subarray_map(setup.shape, setup.subarrays)
        _describe_window(frame, Subarray(FULL_FRAME, 1, 1, nx, ny), 0, setup.shape)
    for subarray_id, (subarray, path) in enumerate(zip(setup.subarrays, subarray_paths), start=1):
        window = subarray.window
        window_variances = tuple(variance[window].copy() for variance in variances)
        window_frame = _exposure_model(raw[window].copy(), window_variances, setup, number, start, pointing, exposure_type)
        window_frame.dq = frame.dq[window].copy()
        _describe_window(window_frame, subarray, subarray_id, setup.shape)
        _save(window_frame, path)
    _save(frame, raw_path)
    truth_model = _exposure_model(truth, None, setup, number, start, pointing, exposure_type)
    truth_path = _save(truth_model, _beside(raw_path, "_truth.fits"))
    stars.meta = {
        "instrument": setup.imager.instrument,
        "exposure": number,
        "pointing_ra": pointing[0],
        "pointing_dec": pointing[1],
        "pa_deg": setup.pa_deg,
        "pixel_scale": setup.imager.pixel_scale,
        "fwhm_pixels": setup.sigma * scene.FWHM_PER_SIGMA,
        "sigma_pixels": setup.sigma,
        "sky_rate": setup.sky_rate,
        "exposure_time": setup.exposure_time,
        "gain": setup.gain,
        "read_noise": setup.read_noise,
        **geometry.truth,
    }
    ny, nx = setup.shape
    on_frame = (stars["x"] >= -0.5) & (stars["x"] < nx - 0.5) & (stars["y"] >= -0.5) & (stars["y"] < ny - 0.5)
    catalog_path = _beside(raw_path, "_catalog.ecsv")
    stars[on_frame][columns].write(catalog_path, format="ascii.ecsv", overwrite=True)
    outlier_path = None
    if outliers is not None:
        outliers.meta = {"exposure": number, "detector": setup.imager.detector, "exposure_time": setup.exposure_time}
        outlier_path = _beside(raw_path, "_outliers.ecsv")
        outliers.write(outlier_path, format="ascii.ecsv", overwrite=True)
    return raw_path, catalog_path, truth_path, subarray_paths, ramp_paths, outlier_path


def _residual_outliers(setup, defects):
    """The residual hot pixels and this exposure's cosmic rays as one table (kind, hit, x, y, rate in DN/s),
    or None when the observation has neither."""
    residual_hot, cosmic_ray_rng = defects
    if not (setup.residual_hot_pixels or setup.residual_cosmic_rays):
        return None
    hot_y, hot_x = np.unravel_index(residual_hot[0], setup.shape)
    hits = dither.cosmic_rays(cosmic_ray_rng, setup.residual_cosmic_rays, setup.shape, setup.gain, setup.exposure_time)
    return Table({
        "kind": ["hot"] * hot_x.size + ["cosmic_ray"] * hits["x"].size,
        "hit": np.concatenate([np.zeros(hot_x.size, int), hits["hit"]]),
        "x": np.concatenate([hot_x, hits["x"]]).astype(int),
        "y": np.concatenate([hot_y, hits["y"]]).astype(int),
        "rate": np.concatenate([residual_hot[1], hits["rate"]]),
    })


def _add_residual_hot_pixels(true_detector, n_pixels, rng):
    """Add ``n_pixels`` hot pixels to the true dark at pixels neither the mask nor the dark flags (they
    appeared after the references were measured). Returns their (flat indices, rates in DN/s)."""
    if not n_pixels:
        return np.zeros(0, np.int64), np.zeros(0)
    unflagged = np.flatnonzero((true_detector.mask_dq == 0) & (true_detector.dark_dq == 0))
    indices, rates = dither.residual_hot_pixels(rng, n_pixels, unflagged)
    true_detector.dark.reshape(-1)[indices] += rates.astype(np.float32)
    return indices, rates


def _write_ramp(raw_path, setup, rate, number, start, pointing, rng):
    """Write the ramp of one exposure (the LVL1 frame's name with LVL0), its true rate and its cosmic rays."""
    readout = setup.readout
    groups, cosmic_rays = ramp.simulate_ramp(rng, rate, readout, setup.ramp_detector)
    model = datamodels.RampModel(data=groups)
    _describe_exposure(model, setup, number, start, pointing)
    exposure = model.meta.exposure
    exposure.readmode = readout.readmode
    exposure.exposure_time = readout.integration_time
    exposure.nints, exposure.ngroups, exposure.nframes = readout.nints, readout.ngroups, readout.nframes
    exposure.groupgap, exposure.frame_time, exposure.group_time = readout.groupgap, readout.frame_time, readout.group_time
    model.meta.bunit_data = "DN"
    ramp_path = _save(model, raw_path.with_name(raw_path.name.replace("_LVL1_", "_LVL0_")))
    true_rate = _exposure_model(rate, None, setup, number, start, pointing)
    true_rate.meta.exposure.exposure_time = readout.integration_time
    true_rate_path = _save(true_rate, _beside(ramp_path, "_truth_rate.fits"))
    cosmic_ray_path = _beside(ramp_path, "_cosmic_rays.ecsv")
    Table(cosmic_rays).write(cosmic_ray_path, format="ascii.ecsv", overwrite=True)
    return ramp_path, true_rate_path, cosmic_ray_path


def _subarray_map(shape, subarrays):
    """SUBARR_MAP of a full frame of ``shape``: 0 outside every window, k inside the k-th of ``subarrays``."""
    subarray_ids = np.zeros(shape, np.uint16)
    for subarray_id, subarray in enumerate(subarrays, start=1):
        subarray_ids[subarray.window] = subarray_id
    return subarray_ids


def _write_references(output_dir, setup, true_detector, rng, residual_hot):
    """Write the mask, dark and flat references (truth plus measurement error), measured before the
    ``residual_hot`` pixels (flat indices, rates) appeared; returns their paths by type."""
    dark_error, flat_error = REFERENCE_ERROR["dark"], REFERENCE_ERROR["flat"]
    measured_flat = detector.measured(rng, true_detector.flat, flat_error)
    measured_flat[true_detector.flat == 0] = 0.0
    measured_dark = detector.measured(rng, true_detector.dark, dark_error)
    measured_dark.reshape(-1)[residual_hot[0]] -= residual_hot[1].astype(np.float32)
    references = {
        "mask": (
            datamodels.MaskModel(dq=true_detector.mask_dq),
            "Simulated mask: DEAD, LOW_QE and HOT pixels",
        ),
        "dark": (
            datamodels.DarkModel(
                data=measured_dark,
                err=np.full(setup.shape, dark_error, np.float32),
                dq=true_detector.dark_dq,
            ),
            f"Simulated dark rate: truth + N(0, {dark_error}) DN/s",
        ),
        "flat": (
            datamodels.FlatModel(data=measured_flat, err=np.full(setup.shape, flat_error, np.float32)),
            f"Simulated flat: truth + N(0, {flat_error}); dead = 0",
        ),
    }
    return _save_references(output_dir, setup, references)


def _save_references(output_dir, setup, references):
    """Save each (model, description) of ``references`` (by reftype) under its reference file name."""
    paths = {}
    for reftype, (model, description) in references.items():
        _describe_reference(model, setup, description)
        paths[reftype] = _save(model, output_dir / reference_file_name(model, REFERENCE_VERSION))
    return paths


def _distortion_field(corner_pixels, reference_error, shape, filter_name):
    """The true DistortionField of ``corner_pixels`` largest displacement, or None; ValueError for bad values."""
    if not (reference_error >= 0):
        raise ValueError(f"distortion_reference_error must be >= 0, got {reference_error!r}")
    if corner_pixels is None:
        if reference_error:
            raise ValueError("distortion_reference_error needs distortion_pixels")
        return None
    if not corner_pixels > 0:
        raise ValueError(f"distortion_pixels must be > 0, got {corner_pixels!r}")
    return DistortionField.of(shape, float(corner_pixels), filter_name)


def _write_distortion(output_dir, prefix, setup, rng):
    """Write the distortion reference (the truth, or an older solution) and the true distortion; their paths."""
    error = setup.distortion_reference_error
    written = setup.distortion
    description = "Simulated geometric distortion (the truth)"
    if error:
        written = DistortionField.of(setup.shape, setup.distortion.largest_displacement(), setup.filter_name, error, rng)
        description = f"Simulated older distortion solution: true coefficients x (1 + N(0, {error:g}))"
    truth = datamodels.DistortionModel()
    truth.model = setup.distortion.transform()
    _describe_reference(truth, setup, "True geometric distortion of the simulation")
    reference = datamodels.DistortionModel()
    reference.model = written.transform()
    paths = _save_references(output_dir, setup, {"distortion": (reference, description)})
    return {**paths, "true_distortion": _save(truth, output_dir / f"{prefix}_truth_distortion.asdf")}


def tan_wcs(pointing, pa_deg, pixel_scale, shape):
    """astropy TAN WCS, CROTA form, with the detector centre at ``pointing`` (deg) and +Y at ``pa_deg``."""
    ny, nx = shape
    scale_deg = pixel_scale / 3600.0
    header = fits.Header(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CUNIT1": "deg",
            "CUNIT2": "deg",
            "CRPIX1": (nx + 1) / 2.0,
            "CRPIX2": (ny + 1) / 2.0,
            "CRVAL1": pointing[0],
            "CRVAL2": pointing[1],
            "CDELT1": -scale_deg,
            "CDELT2": scale_deg,
            "CROTA2": -pa_deg,
            "RADESYS": "ICRS",
        }
    )
    return WCS(header)


def _check_parameters(size, n_exposures, n_stars, exposure_time, sky_rate, fwhm_arcsec, gain, read_noise):
    """Raise ValueError for a parameter outside its meaningful range."""
    minimum_size = 2 * STAR_MARGIN + 2
    checks = (
        ("size", size, int(size) == size and size >= minimum_size, f"an integer >= {minimum_size}"),
        ("n_exposures", n_exposures, int(n_exposures) == n_exposures and n_exposures >= 1, "an integer >= 1"),
        ("n_stars", n_stars, int(n_stars) == n_stars and n_stars >= 0, "an integer >= 0"),
        ("exposure_time", exposure_time, exposure_time > 0, "> 0"),
        ("sky_rate", sky_rate, sky_rate >= 0, ">= 0"),
        ("fwhm_arcsec", fwhm_arcsec, fwhm_arcsec > 0, "> 0"),
        ("gain", gain, gain > 0, "> 0"),
        ("read_noise", read_noise, read_noise >= 0, ">= 0"),
    )
    for name, value, valid, requirement in checks:
        if not valid:
            raise ValueError(f"{name} must be {requirement}, got {value!r}")


def _check_dither(
    n_exposures, dither_positions, dither_step, pointing_error_mas, max_rotation_deg, residual_cosmic_rays,
    residual_hot_pixels, detector_gap,
):
    """The number of exposures, given a dither pattern; ValueError for a bad dither or defect parameter."""
    for name, value in (("residual_cosmic_rays", residual_cosmic_rays), ("residual_hot_pixels", residual_hot_pixels)):
        if not (int(value) == value and value >= 0):
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    for name, value in (
        ("pointing_error_mas", pointing_error_mas), ("max_rotation_deg", max_rotation_deg),
        ("dither_step", dither_step), ("detector_gap", detector_gap),
    ):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    if dither_positions is None:
        return n_exposures
    dither.grid_offsets(int(dither_positions), 1.0)  # raises for a pattern that is no n x n grid
    if n_exposures not in (1, dither_positions):
        raise ValueError(f"n_exposures ({n_exposures}) must be 1 or the dither positions ({dither_positions})")
    return int(dither_positions)


def _check_subarrays(subarrays, size):
    """``subarrays`` as Subarray windows; ValueError for a bad name, a window off the detector or an overlap."""
    checked = []
    for entry in subarrays:
        if len(entry) != 5:
            raise ValueError(f"a subarray is (name, xstart, ystart, xsize, ysize), got {entry!r}")
        name, *geometry = entry
        name = str(name)
        if not _IDENTIFIER.match(name) or name.upper() in RESERVED_SUBARRAY_NAMES:
            reserved = " or ".join(RESERVED_SUBARRAY_NAMES)
            raise ValueError(f"subarray name must be letters and digits, not {reserved}, got {name!r}")
        if not all(isinstance(value, numbers.Integral) for value in geometry):
            raise ValueError(f"subarray {name}: xstart, ystart, xsize, ysize must be integers, got {geometry}")
        subarray = Subarray(name, *(int(value) for value in geometry))
        for start, window_size in ((subarray.xstart, subarray.xsize), (subarray.ystart, subarray.ysize)):
            if not (start >= 1 and window_size >= 1 and start + window_size - 1 <= size):
                raise ValueError(
                    f"subarray {name} (xstart, ystart, xsize, ysize = {', '.join(map(str, geometry))}) "
                    f"is not inside the {size} x {size} detector"
                )
        for other in checked:
            if other.name.upper() == name.upper():
                raise ValueError(f"subarray name {name} is given twice")
            if other.overlaps(subarray):
                raise ValueError(f"subarrays {other.name} and {name} overlap")
        checked.append(subarray)
    return tuple(checked)


def _beside(raw_path, suffix):
    """The path next to ``raw_path`` with ``suffix`` in place of its ``.fits``."""
    return raw_path.with_name(raw_path.stem + suffix)


def _save(model, path):
    """Save ``model`` to ``path`` and release its arrays; returns the path."""
    model.meta.date = Time.now().isot
    model.meta.origin = ORIGIN
    with model:
        model.save(path)
    return Path(path)


def _exposure_model(data, variances, setup, number, start, pointing, exposure_type="SCIENCE"):
    """An ImagerModel of one exposure with the metadata of a raw frame (BUNIT DN/s, no WCS); ``variances``,
    (VAR_POISSON, VAR_RNOISE) or None for a noise-free frame, give ERR = sqrt(VAR_POISSON + VAR_RNOISE)."""
    if variances is None:
        model = datamodels.ImagerModel(data=data)
    else:
        var_poisson, var_rnoise = variances
        model = datamodels.ImagerModel(
            data=data, err=np.sqrt(var_poisson + var_rnoise), var_poisson=var_poisson, var_rnoise=var_rnoise,
            var_flat=np.zeros_like(var_poisson),
        )
    _describe_exposure(model, setup, number, start, pointing, exposure_type)
    model.meta.exposure.readmode = "ROP"
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    return model


def _describe_exposure(model, setup, number, start, pointing, exposure_type="SCIENCE"):
    """The metadata every frame and ramp of an exposure shares (instrument, timing, pointing, target)."""
    meta = model.meta
    _describe_detector(model, setup)
    meta.instrument.filter = setup.filter_name
    meta.instrument.mode = "IMG"
    meta.instrument.pixel_scale = setup.imager.pixel_scale
    meta.exposure.type = exposure_type
    meta.exposure.exposure_time = setup.exposure_time
    meta.exposure.start_time = float(start.mjd)
    meta.exposure.number = number
    meta.exposure.gain = setup.gain
    meta.observation.date, meta.observation.time = start.isot.split("T")
    meta.observation.program_number = setup.program
    meta.observation.observation_number = setup.observation
    meta.target.name = "Simulated star field"
    meta.target.ra, meta.target.dec = setup.target
    meta.pointing.ra, meta.pointing.dec = pointing
    meta.pointing.pa = setup.pa_deg


def _describe_window(model, subarray, subarray_id, detector_shape):
    """The window a frame was read in, its id in the full frame's SUBARR_MAP and the detector's size."""
    meta = model.meta.subarray
    meta.name, meta.id = subarray.name, subarray_id
    meta.xstart, meta.ystart = subarray.xstart, subarray.ystart
    meta.xsize, meta.ysize = subarray.xsize, subarray.ysize
    meta.detysize, meta.detxsize = detector_shape


def _describe_reference(model, setup, description):
    """Fill the metadata of a reference file, its unit (SCI and ERR) among them; flats also carry the filter."""
    meta = model.meta
    _describe_detector(model, setup)
    meta.useafter = USEAFTER
    meta.pedigree = "SIMULATION"
    meta.description = description
    meta.author = ORIGIN
    if isinstance(model, (datamodels.FlatModel, datamodels.DistortionModel)):
        meta.instrument.filter = setup.filter_name
    if model.reftype in REFERENCE_UNITS:
        meta.bunit_data = REFERENCE_UNITS[model.reftype]
        if "err" in model.schema["properties"]:
            meta.bunit_err = meta.bunit_data


def _describe_detector(model, setup):
    """Telescope, instrument, detector and the full-frame window, which frames and references share."""
    meta = model.meta
    meta.telescope = setup.imager.telescope
    meta.instrument.name = setup.imager.instrument
    meta.instrument.detector = setup.imager.detector
    meta.subarray.name = "FULL"
    meta.subarray.xstart = 1
    meta.subarray.ystart = 1
    meta.subarray.ysize, meta.subarray.xsize = setup.shape
