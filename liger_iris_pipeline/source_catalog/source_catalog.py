"""Sources of an image: detection, centroids, sky positions, aperture photometry and its errors (numpy, astropy,
photutils: arrays in, a table out).

Detection (as jwst's source_catalog): a smooth background B2D (photutils Background2D, sigma-clipped medians
in boxes of ``bkg_boxsize`` pixels at least half usable, 3 x 3 median-filtered, interpolated; one sigma-clipped
median of the whole image when no box is) and its RMS are taken from the image;
SCI - B2D (0 on unusable pixels) is convolved with a circular Gaussian of ``kernel_fwhm`` pixels (truncated
at 3 sigma), and a source is at least ``npixels`` connected pixels of the convolved image above
``snr_threshold`` x RMS (8-connected; with ``deblend``, segments that hold several peaks are split by
multi-thresholding and watershed, and the parts are flagged BLENDED). Unusable pixels (DO_NOT_USE, not finite, ERR not positive, no weight) take no part anywhere.

Shape: the FWHM of the segment's second moments in the convolved image, the kernel's FWHM removed in
quadrature (exact for Gaussians).

Centroids: the windowed centroid (SExtractor's XWIN/YWIN: Gaussian-weighted first moments iterated about the
position) of SCI - B2D, the isophotal one where it is undefined; 0-based pixels, pixel (0, 0) centred at
(0, 0). RA and Dec: the WCS at the centroid.

Photometry, for each aperture radius r (pixels) and a local background from the annulus (r_in, r_out), where
w_i is the fraction of pixel i inside the aperture (exact overlap), unusable pixels left out, and the annulus
pixels j (centre inside the annulus, usable, 3-sigma-clipped) number N:

    b          = median_j SCI_j                                  local background per pixel
    sigma_b    = sqrt(pi / 2) sqrt(mean_j ERR_j**2) / sqrt(N)    error of a median of N pixels
    A          = sum_i w_i                                       usable aperture area
    flux       = sum_i w_i SCI_i - A b
    flux_err   = sqrt(sum_i w_i ERR_i**2 + (A sigma_b)**2)

ERR holds the whole noise of each pixel (the source's and sky's Poisson noise, read noise, the flat's error),
so flux_err is the total error of an image whose pixels are independent. A drizzled image's are not: with the
square kernel, an input pixel's drop (``pixfrac`` input pixels wide) lands on several output pixels (``s`` input
pixels wide), so a sum over many output pixels has a larger noise than the sum of their VAR says, by the factor
(Casertano et al. 2000, AJ 120, 2747, eq. A12; Fruchter & Hook 2002, PASP 114, 144), with r = pixfrac / s,

    R = 1 / (1 - r / 3)          for r <= 1,
    R = r / (1 - 1 / (3 r))      for r >= 1,

a ratio of noise, so of variance R**2 (2.25 for pixfrac 1 on the input grid: along one axis an output pixel
averages two input pixels with weights a and 1 - a, E[a**2 + (1 - a)**2] = 2/3 over the drops' positions, and
the square kernel is separable); 1 for the point kernel, whose drops are points. Every error above (flux_err,
sigma_b, segment_flux_err) is multiplied by R (``noise_correlation`` = R**2, the variance ratio): the limit for
areas much larger than a drop, a few per cent conservative for an aperture a few drops wide, which loses the
covariance across its edge. jwst's catalogue leaves it out. No aperture correction is applied: the flux is what the aperture holds
(for a Gaussian PSF of width sigma, 1 - exp(-r**2 / (2 sigma**2)) of the total).

Flags (bits of ``flags``): BAD_PIXEL, an unusable pixel within the largest aperture (its flux is missing);
EDGE, the largest aperture reaches past the image; BLENDED, deblended from a segment with other sources;
SPARSE_ANNULUS, fewer than half of the annulus pixels usable (background less certain, NaN if none);
COVERAGE (a mosaic, given its context map), the set of frames that make up the image changes within the largest
aperture: at a frame's edge, or around a pixel one frame left out (an outlier), drizzle averages into an output
pixel the part of a frame's input pixel that overlaps it as if it were the whole output pixel, which on the
steep core of a star is not its mean (measured: -0.33 % of a bright star's flux with a frame's edge 3 pixels
from its centre, in a 9-point dither, noise-free).
``is_isolated``: no other source's centroid within r_out + the largest r.
"""

import warnings

import numpy as np
from astropy.stats import SigmaClip, sigma_clipped_stats
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.background import Background2D, MedianBackground
from photutils.segmentation import SourceCatalog, SourceFinder
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

FLAG_BAD_PIXEL = 1
FLAG_EDGE = 2
FLAG_BLENDED = 4
FLAG_SPARSE_ANNULUS = 8
FLAG_COVERAGE = 16
#: Bit of ``flags`` -> its meaning, for the catalogue's metadata.
FLAG_MEANINGS = {
    FLAG_BAD_PIXEL: "unusable pixel within the largest aperture",
    FLAG_EDGE: "largest aperture reaches past the image",
    FLAG_BLENDED: "deblended from a segment with other sources",
    FLAG_SPARSE_ANNULUS: "fewer than half of the background annulus pixels usable",
    FLAG_COVERAGE: "the frames that make up the image change within the largest aperture (drizzled flux biased)",
}
#: Ratio of a Gaussian's full width at half maximum to its sigma, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Clipping of the background boxes and of the annulus pixels.
SIGMA_CLIP = SigmaClip(sigma=3.0, maxiters=10)
#: Ratio of the error of the median of N normal values to the error of their mean.
MEDIAN_ERROR_FACTOR = np.sqrt(np.pi / 2.0)


class NoUsablePixels(ValueError):
    """The image has no pixel that can be measured."""


def aperture_column(index, quantity="flux"):
    """Name of a column of the ``index``-th aperture (1-based): aper1_flux, aper1_flux_err, ..."""
    return f"aper{index}_{quantity}"


def drizzle_variance_ratio(kernel, pixfrac, scale_ratio):
    """R**2 (module docstring): the variance of a sum over many pixels of an image drizzled with ``kernel``,
    ``pixfrac`` and output/input pixel ``scale_ratio``, over the sum of the pixels' own variances. None for a
    kernel it is not known for (gaussian, lanczos)."""
    if kernel == "point":
        return 1.0
    if kernel not in ("square", "turbo"):
        return None
    r = pixfrac / scale_ratio
    noise_ratio = 1.0 / (1.0 - r / 3.0) if r <= 1.0 else r / (1.0 - 1.0 / (3.0 * r))
    return noise_ratio**2


def unusable_pixels(sci, err, dq, do_not_use, weight=None):
    """Boolean map of the pixels that take no part: DQ with ``do_not_use`` (an image without DQ, a mosaic, has
    none), SCI or ERR not finite, ERR <= 0, or (with a ``weight`` map) weight <= 0."""
    unusable = ~np.isfinite(sci) | ~np.isfinite(err) | ~(err > 0)
    if dq is not None:
        unusable |= (dq & do_not_use) != 0
    if weight is not None:
        unusable |= ~(weight > 0)
    return unusable


def background_map(sci, unusable, box_size):
    """(background, RMS) of ``sci``: photutils Background2D maps from boxes of ``box_size`` pixels (no larger than
    the image) at least half usable; where no box is (a small or mostly unexposed image), the sigma-clipped
    median and standard deviation of all usable pixels."""
    box = (min(box_size, sci.shape[0]), min(box_size, sci.shape[1]))
    try:
        background = Background2D(
            sci, box, mask=unusable, exclude_percentile=50.0, filter_size=(3, 3), sigma_clip=SIGMA_CLIP,
            bkg_estimator=MedianBackground(),
        )
    except ValueError:  # photutils: every box has too few usable pixels
        _, median, std = sigma_clipped_stats(sci, mask=unusable, sigma=SIGMA_CLIP.sigma, maxiters=SIGMA_CLIP.maxiters)
        return np.full(sci.shape, median), np.full(sci.shape, std)
    return background.background, background.background_rms


def detect(sci_minus_background, rms, unusable, kernel_fwhm, snr_threshold, npixels, deblend):
    """The segmentation image of the sources (photutils SegmentationImage) and the convolved image; None for
    the segmentation when nothing is detected."""
    convolved = gaussian_filter(sci_minus_background, kernel_fwhm / FWHM_PER_SIGMA, mode="constant", truncate=3.0)
    finder = SourceFinder(n_pixels=npixels, deblend=deblend, progress_bar=False)
    threshold = np.where(unusable, np.inf, snr_threshold * rms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)  # an empty field gives an empty catalogue
        return finder(convolved, threshold, mask=unusable), convolved


def local_background(sci, err, unusable, positions, r_in, r_out):
    """(b, sigma_b, usable fraction of the annulus) per position (module docstring); NaN where no pixel is usable."""
    annulus = CircularAnnulus(positions, r_in=r_in, r_out=r_out)
    level = ApertureStats(sci, annulus, mask=unusable, sigma_clip=SIGMA_CLIP)
    variance = ApertureStats(err**2, annulus, mask=unusable, sigma_clip=None)
    count = np.atleast_1d(level.center_aper_area.value)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = MEDIAN_ERROR_FACTOR * np.sqrt(np.atleast_1d(variance.mean) / count)
    nominal = np.pi * (r_out**2 - r_in**2)
    median = np.atleast_1d(level.median).astype(float)
    median[count == 0] = np.nan
    sigma[count == 0] = np.nan
    return median, sigma, np.atleast_1d(variance.center_aper_area.value) / nominal


def aperture_photometry(sci, err, unusable, positions, radius, background, background_err):
    """(flux, flux_err) in an aperture of ``radius`` pixels at each position, the local background removed
    (module docstring)."""
    stats = ApertureStats(sci, CircularAperture(positions, r=radius), error=err, mask=unusable)
    area = np.atleast_1d(stats.sum_aper_area.value)
    flux = np.atleast_1d(stats.sum) - area * background
    flux_err = np.hypot(np.atleast_1d(stats.sum_err), area * background_err)
    return flux, flux_err


def reaches(mask, positions, radius):
    """Whether an aperture of ``radius`` at each position covers part of a pixel of ``mask``."""
    stats = ApertureStats(mask.astype(np.float32), CircularAperture(positions, r=radius))
    return np.atleast_1d(stats.sum) > 0


def coverage_changes(context):
    """Boolean map of the pixels whose context (drizzle's bit planes of contributing frames, (planes, ny, nx))
    differs from one of their 8 neighbours'."""
    context = np.asarray(context)
    padded = np.pad(context, ((0, 0), (1, 1), (1, 1)), mode="edge")
    ny, nx = context.shape[1:]
    changes = np.zeros((ny, nx), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            neighbour = padded[:, 1 + dy : 1 + dy + ny, 1 + dx : 1 + dx + nx]
            changes |= (neighbour != context).any(axis=0)
    return changes


def reaches_edge(shape, x, y, radius):
    """Whether an aperture of ``radius`` at (x, y) reaches past the image (pixel edges at -0.5 and n - 0.5)."""
    ny, nx = shape
    return (x - radius < -0.5) | (x + radius > nx - 0.5) | (y - radius < -0.5) | (y + radius > ny - 0.5)


def nearest_neighbour_distance(x, y):
    """Distance in pixels from each source to the nearest other one (inf for a lone source)."""
    if len(x) < 2:
        return np.full(len(x), np.inf)
    distance, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    return distance[:, 1]


def pixel_scale_arcsec(wcs, x, y):
    """Sky size in arcsec of one pixel along x at each (x, y), from the APE-14 ``wcs``."""
    ra0, dec0 = (np.radians(value) for value in wcs.pixel_to_world_values(x, y))
    ra1, dec1 = (np.radians(value) for value in wcs.pixel_to_world_values(x + 1.0, y))
    haversine = np.sin((dec1 - dec0) / 2) ** 2 + np.cos(dec0) * np.cos(dec1) * np.sin((ra1 - ra0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(haversine))) * 3600.0


def empty_catalog(n_apertures):
    """A catalogue with the columns of ``measure_sources`` and no rows."""
    columns = ["x_centroid", "y_centroid", "ra", "dec", "background", "background_err", "segment_flux",
               "segment_flux_err", "fwhm"]
    for index in range(1, n_apertures + 1):
        columns += [aperture_column(index), aperture_column(index, "flux_err")]
    table = Table({"id": np.zeros(0, int)})
    for name in columns:
        table[name] = np.zeros(0)
    table["flags"] = np.zeros(0, np.int32)
    table["is_isolated"] = np.zeros(0, bool)
    return table


def measure_sources(
    sci, err, unusable, wcs, kernel_fwhm, aperture_radii, annulus_radii, bkg_boxsize=100, snr_threshold=3.0,
    npixels=5, deblend=True, noise_correlation=1.0, context=None,
):
    """The catalogue (astropy Table) of the sources of ``sci``; radii in pixels, ``wcs`` APE-14.

    Columns: id, x_centroid, y_centroid (0-based pixels), ra, dec (deg), background, background_err (per pixel),
    segment_flux, segment_flux_err (isophotal, above the smooth background), fwhm (pixels: of the convolved
    source's second moments, the kernel's removed in quadrature),
    aper<k>_flux, aper<k>_flux_err for each of ``aperture_radii``, flags, is_isolated (module docstring).
    ``noise_correlation``: R**2 of a drizzled image (``drizzle_variance_ratio``), 1 for independent pixels;
    ``context``: a mosaic's context planes, for the COVERAGE flag. Raises NoUsablePixels when no pixel is usable.
    """
    if unusable.all():
        raise NoUsablePixels("no usable pixel (every pixel DO_NOT_USE, not finite, without error or weight)")
    background, rms = background_map(sci, unusable, bkg_boxsize)
    above_background = np.where(unusable, 0.0, sci - background)
    segments, convolved = detect(above_background, rms, unusable, kernel_fwhm, snr_threshold, npixels, deblend)
    if segments is None:
        return empty_catalog(len(aperture_radii))
    sources = SourceCatalog(
        above_background, segments, convolved_data=convolved, error=np.where(unusable, 0.0, err), mask=unusable
    )
    x, y = np.array(sources.x_centroid_win, float), np.array(sources.y_centroid_win, float)
    undefined = ~(np.isfinite(x) & np.isfinite(y))
    x[undefined], y[undefined] = np.asarray(sources.x_centroid)[undefined], np.asarray(sources.y_centroid)[undefined]
    positions = np.column_stack([x, y])
    ra, dec = wcs.pixel_to_world_values(x, y)

    r_in, r_out = annulus_radii
    level, level_err, annulus_fraction = local_background(sci, err, unusable, positions, r_in, r_out)
    correlation = np.sqrt(noise_correlation)
    level_err, err = level_err * correlation, err * correlation
    table = Table({
        "id": np.arange(1, len(x) + 1),
        "x_centroid": x,
        "y_centroid": y,
        "ra": np.atleast_1d(ra),
        "dec": np.atleast_1d(dec),
        "background": level,
        "background_err": level_err,
        "segment_flux": np.asarray(sources.segment_flux, float),
        "segment_flux_err": np.asarray(sources.segment_flux_err, float) * correlation,  # from ERR before the scaling
        "fwhm": np.sqrt(np.clip(np.asarray(sources.fwhm.value, float) ** 2 - kernel_fwhm**2, 0.0, None)),
    })
    for index, radius in enumerate(aperture_radii, start=1):
        flux, flux_err = aperture_photometry(sci, err, unusable, positions, radius, level, level_err)
        table[aperture_column(index)], table[aperture_column(index, "flux_err")] = flux, flux_err

    largest = max(aperture_radii)
    flags = np.where(reaches(unusable, positions, largest), FLAG_BAD_PIXEL, 0)
    if context is not None:
        flags |= np.where(reaches(coverage_changes(context), positions, largest), FLAG_COVERAGE, 0)
    flags |= np.where(reaches_edge(sci.shape, x, y, largest), FLAG_EDGE, 0)
    flags |= np.where(np.isin(sources.labels, segments.deblended_labels), FLAG_BLENDED, 0)
    flags |= np.where(~(annulus_fraction >= 0.5), FLAG_SPARSE_ANNULUS, 0)
    table["flags"] = flags.astype(np.int32)
    table["is_isolated"] = nearest_neighbour_distance(x, y) > r_out + largest
    return table
