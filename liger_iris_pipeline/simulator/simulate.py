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

Random numbers come from independent streams spawned from ``seed`` (detector, scene, references, and one
per exposure), so the detector, stars and first exposures do not change with ``n_exposures``.
"""

import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from .. import datamodels
from ..instruments import FILE_INSTRUMENT, IMAGERS, Imager
from . import detector, ramp, scene

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

    def all_paths(self):
        """Every written path: per exposure raw, catalogue, truth, subarray frames; then references and truth;
        then the ramps, their truth and the readout references."""
        per_exposure = [
            path
            for raw, catalog, truth, subarrays in zip(self.raw, self.catalogs, self.truth, self.subarrays)
            for path in (raw, catalog, truth, *subarrays)
        ]
        calibration = [*self.sky, *self.sky_truth, *self.darks, *self.flats]
        ramp_files = [path for paths in zip(self.ramps, self.true_rates, self.cosmic_rays) for path in paths]
        return [
            *per_exposure, self.mask, self.dark, self.flat, self.true_flat, self.true_dark, *calibration,
            *ramp_files, *self.ramp_references.values(),
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
):
    """Write ``n_exposures`` raw frames of a random star field, their references and truth to ``output_dir``.

    ``size`` (pixels per side) defaults to the full detector; ``n_stars`` to one star per 64 x 64 pixels;
    ``fwhm_arcsec`` to the diffraction limit in Ks (IRIS 0.016", LIGER 0.050"). Fluxes (DN/s) follow
    dN/dF ~ F**-flux_power_index within ``flux_range``. ``subarrays``: windows (name, xstart, ystart, xsize,
    ysize), each also written as a raw frame of its own (module docstring). ``n_sky``, ``n_darks``, ``n_flats``:
    background (sky), dark and flat exposures of the same detector (module docstring); ``flat_type`` dome or
    twilight, ``flat_rate`` the illumination of the first flat [DN/s]. ``bad_pixels_per_megapixel`` overrides
    the detector's bad-pixel densities by kind (dead, low_qe, hot, warm). ``readout`` (a ``ramp.RampReadout``)
    also writes each science exposure's up-the-ramp reads. Raises ValueError for a bad parameter.
    Returns a SimulatedObservation of the written paths.
    """
    instrument = str(instrument).upper()
    if instrument not in IMAGERS:
        raise ValueError(f"instrument must be one of {', '.join(IMAGERS)}, got {instrument!r}")
    imager = IMAGERS[instrument]
    size = imager.size if size is None else size
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
    ra, dec = float(pointing[0]) % 360.0, float(pointing[1])
    if not -90.0 < dec < 90.0:
        raise ValueError(f"pointing declination must be within (-90, 90) deg, got {dec}")
    start = Time(date, format="isot", scale="utc")
    streams = np.random.SeedSequence(seed).spawn(8)
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
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{semester}-{program}-{observation}_{FILE_INSTRUMENT[instrument]}_{imager.detector}"

    true_detector = detector.make_detector(
        np.random.default_rng(detector_stream), setup.shape, bad_pixels_per_megapixel
    )
    cadence = (exposure_time + EXPOSURE_OVERHEAD) * u.s
    scene_rng = np.random.default_rng(scene_stream)
    x, y = scene.random_positions(scene_rng, n_stars, setup.shape, STAR_MARGIN)
    flux = scene.power_law_fluxes(scene_rng, n_stars, flux_range, flux_power_index)
    nominal_wcs = tan_wcs(setup.target, setup.pa_deg, imager.pixel_scale, setup.shape)
    star_ra, star_dec = nominal_wcs.all_pix2world(x, y, 0)
    dithers = np.vstack([[0.0, 0.0], scene_rng.uniform(-MAX_DITHER_PIXELS, MAX_DITHER_PIXELS, (n_exposures - 1, 2))])

    written = _observe_field(
        output_dir, prefix, "SCIENCE", setup, true_detector, nominal_wcs, (star_ra, star_dec, flux), dithers,
        [start + index * cadence for index in range(n_exposures)], noise_stream.spawn(n_exposures), subarrays,
        ramp_noise_stream.spawn(n_exposures),
    )
    raw_paths, catalog_paths, truth_paths, subarray_paths, ramp_paths = zip(*written)
    sky = _observe_sky(
        output_dir, prefix, setup, true_detector, n_sky, start + n_exposures * cadence, cadence,
        (n_stars if sky_stars is None else int(sky_stars), flux_range, flux_power_index), sky_stream,
    )
    darks = _write_calibration_exposures(
        output_dir, prefix, "DARK", setup, true_detector, [0.0] * n_darks, start - DARKS_BEFORE_SCIENCE * u.s,
        cadence, dark_stream,
    )
    levels = flat_rate * (TWILIGHT_FADING ** np.arange(n_flats) if flat_type == "twilight" else np.ones(n_flats))
    flats = _write_calibration_exposures(
        output_dir, prefix, FLAT_EXPOSURE_TYPES[flat_type], setup, true_detector, levels,
        start - FLATS_BEFORE_SCIENCE * u.s, cadence, flat_stream,
    )

    references = _write_references(output_dir, setup, true_detector, np.random.default_rng(reference_stream))
    true_flat = datamodels.FlatModel(data=true_detector.flat, err=np.zeros(setup.shape, np.float32))
    _describe_reference(true_flat, setup, "True (noise-free) flat of the simulation")
    true_dark = datamodels.DarkModel(
        data=true_detector.dark, err=np.zeros(setup.shape, np.float32), dq=true_detector.dark_dq
    )
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


def _observe_field(
    output_dir, prefix, exposure_type, setup, true_detector, field_wcs, stars, dithers, starts, streams, subarrays,
    ramp_streams=None,
):
    """Write one exposure of the field of ``field_wcs`` per dither (pixels from its centre), start time and
    noise stream; ``stars`` = (ra, dec, flux); with ``setup.readout`` and ``ramp_streams`` also its ramp.
    Returns ``_write_exposure``'s paths for each exposure."""
    ra, dec, flux = stars
    written = []
    ramp_streams = ramp_streams or [None] * len(streams)
    for number, (dither, start, stream, ramp_stream) in enumerate(zip(dithers, starts, streams, ramp_streams), start=1):
        centre = (setup.shape[0] - 1) / 2.0 + dither
        pointing = tuple(float(value) for value in field_wcs.all_pix2world(centre[0], centre[1], 0))
        table = Table({"id": np.arange(1, len(flux) + 1), "ra": ra, "dec": dec, "flux": flux})
        raw_path = output_dir / _raw_name(prefix, IMAGE_TYPES[exposure_type], number)
        subarray_paths = tuple(output_dir / _raw_name(prefix, subarray.name, number) for subarray in subarrays)
        written.append(
            _write_exposure(
                raw_path, subarray_paths, setup, true_detector, table, number, start, pointing,
                np.random.default_rng(stream), exposure_type, ramp_stream and np.random.default_rng(ramp_stream),
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
    return _observe_field(
        output_dir, prefix, "SKY", setup, true_detector, sky_wcs, (ra, dec, flux), dithers, starts, noise_streams, ()
    )


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
    raw_path, subarray_paths, setup, true_detector, stars, number, start, pointing, rng, exposure_type="SCIENCE",
    ramp_rng=None,
):
    """Render, add noise to and write one exposure: raw frame, its subarray frames, truth and catalogue,
    and with ``setup.readout`` and ``ramp_rng`` its ramp.

    ``stars`` holds id, ra, dec and flux; the exposure's x/y are added from its WCS. Returns the raw,
    catalogue and truth paths, ``subarray_paths`` and the ramp, true-rate and cosmic-ray paths (or None).
    """
    exposure_wcs = tan_wcs(pointing, setup.pa_deg, setup.imager.pixel_scale, setup.shape)
    stars["x"], stars["y"] = exposure_wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    truth = scene.scene_rate(setup.shape, stars["x"], stars["y"], stars["flux"], setup.sigma, setup.sky_rate)
    rate = true_detector.flat * truth
    rate += true_detector.dark
    raw = detector.add_noise(rng, rate, setup.exposure_time, setup.gain, setup.read_noise)
    ramp_paths = None
    if setup.readout and ramp_rng is not None:
        ramp_paths = _write_ramp(raw_path, setup, rate, number, start, pointing, ramp_rng)
    del rate
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
    }
    catalog_path = _beside(raw_path, "_catalog.ecsv")
    stars[["id", "ra", "dec", "x", "y", "flux"]].write(catalog_path, format="ascii.ecsv", overwrite=True)
    return raw_path, catalog_path, truth_path, subarray_paths, ramp_paths


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


def _write_references(output_dir, setup, true_detector, rng):
    """Write the mask, dark and flat references (truth plus measurement error); returns their paths by type."""
    dark_error, flat_error = REFERENCE_ERROR["dark"], REFERENCE_ERROR["flat"]
    measured_flat = detector.measured(rng, true_detector.flat, flat_error)
    measured_flat[true_detector.flat == 0] = 0.0
    references = {
        "mask": (
            datamodels.MaskModel(dq=true_detector.mask_dq),
            "Simulated mask: DEAD, LOW_QE and HOT pixels",
        ),
        "dark": (
            datamodels.DarkModel(
                data=detector.measured(rng, true_detector.dark, dark_error),
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
    instrument = FILE_INSTRUMENT[setup.imager.instrument]
    useafter_stamp = USEAFTER.replace("-", "").replace(":", "")
    paths = {}
    for reftype, (model, description) in references.items():
        _describe_reference(model, setup, description)
        name = f"{instrument}_{setup.imager.detector}_{reftype.upper()}_{useafter_stamp}_{REFERENCE_VERSION}.fits"
        paths[reftype] = _save(model, output_dir / name)
    return paths


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
    if isinstance(model, datamodels.FlatModel):
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
