"""Quality numbers of a calibrated frame: sky level and noise, flagged pixels, stars, FWHM, and the WCS checked
against a star catalogue.

Plain numpy, astropy and photutils (arrays in, numbers out):

- sky: sigma-clipped (3 sigma) median and standard deviation of the unflagged pixels (of a regular grid of
  at most ``SKY_SAMPLE`` of them: the noise is independent from pixel to pixel, and clipping 16 million pixels
  takes seconds);
- stars: segmentation of the sky-subtracted frame (flagged pixels set to 0) smoothed by a Gaussian of
  ``kernel_fwhm`` pixels: sources of at least ``npixels`` connected pixels above ``nsigma`` times the smoothed
  sky noise;
- FWHM: a pixel-integrated circular Gaussian (photutils CircularGaussianPRF) fitted, with free position, flux
  and width, to the ``max_fitted`` brightest stars; the median of their widths;
- WCS: each fitted star's sky position through the WCS, matched to the nearest catalogue star within
  ``match_radius_arcsec``; the median separation in mas.

``measure_frame`` also returns the stars themselves (the quick-look's ``_stars.ecsv``): every detected star at
its fitted position where it was fitted, else at its centroid, with its sky position through the WCS.
"""

import warnings

import numpy as np
from astropy.coordinates import SkyCoord
from astropy import units as u
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from photutils.psf import CircularGaussianPRF, PSFPhotometry
from photutils.segmentation import SourceCatalog, detect_sources
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.ndimage import gaussian_filter

#: Most pixels the sky statistics are computed from.
SKY_SAMPLE = 1_000_000
#: Columns of ``detect_stars``'s table.
DETECTED_COLUMNS = ("x", "y", "flux", "peak", "moment_fwhm")
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def sky_statistics(image, flagged):
    """(sky level, sky noise): 3-sigma-clipped median and standard deviation of the unflagged pixels."""
    stride = max(1, int(np.ceil(np.sqrt(image.size / SKY_SAMPLE))))
    sample = (slice(None, None, stride), slice(None, None, stride))
    _, median, std = sigma_clipped_stats(image[sample], mask=flagged[sample], sigma=3.0, maxiters=10)
    return float(median), float(std)


def detect_stars(image, flagged, sky, nsigma=5.0, npixels=5, kernel_fwhm=3.0):
    """The sources, brightest first: a Table of x, y (isophotal centroids, 0-based pixels), flux (the sum above
    the sky over the source's segment), peak (its highest pixel above the sky) and moment_fwhm (pixels: of the
    smoothed source's second moments, the kernel's width included)."""
    above_sky = np.where(flagged, 0.0, image - sky)
    smoothed = gaussian_filter(above_sky, kernel_fwhm / FWHM_PER_SIGMA, mode="nearest")
    _, smoothed_noise = sky_statistics(smoothed, flagged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)  # an empty field gives an empty table
        segments = detect_sources(smoothed, nsigma * smoothed_noise, n_pixels=npixels, mask=flagged)
    if segments is None:
        return Table({name: np.empty(0) for name in DETECTED_COLUMNS})
    sources = SourceCatalog(above_sky, segments, convolved_data=smoothed, mask=flagged)
    order = np.argsort(sources.segment_flux)[::-1]
    columns = (sources.x_centroid, sources.y_centroid, sources.segment_flux, sources.max_value, sources.fwhm.value)
    return Table({name: np.asarray(column, float)[order] for name, column in zip(DETECTED_COLUMNS, columns)})


def fit_stars(image, flagged, sky, x, y, fwhm_guess, fit_size):
    """Fit a pixel-integrated circular Gaussian to each star at (x, y): arrays of fitted x, y and FWHM (pixels),
    one value per star, NaN for a star dropped.

    Stars whose fitting box leaves the frame, or whose fit photutils flags for anything but masked pixels in
    the box (flag 1, fewer pixels than the box: flagged pixels near a star are fine), are dropped.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    fitted = np.full((3, len(x)), np.nan)
    half = fit_size // 2
    ny, nx = image.shape
    inside = (x >= half) & (x < nx - 1 - half) & (y >= half) & (y < ny - 1 - half)
    if not inside.any():
        return tuple(fitted)
    model = CircularGaussianPRF(fwhm=fwhm_guess)
    model.fwhm.fixed = False
    photometry = PSFPhotometry(model, fit_size, aperture_radius=max(fwhm_guess, 2.0))
    initial = Table({"x": x[inside], "y": y[inside]})
    result = photometry(image - sky, mask=flagged, init_params=initial)
    good = ((result["flags"] & ~1) == 0) & np.isfinite(result["fwhm_fit"]) & (result["fwhm_fit"] > 0)
    star = np.flatnonzero(inside)[np.asarray(result["id"][good]) - 1]  # ids number the initial rows from 1
    for row, column in enumerate(("x_fit", "y_fit", "fwhm_fit")):
        fitted[row, star] = np.asarray(result[column][good], float)
    return tuple(fitted)


def catalog_offsets_mas(ra, dec, catalog_ra, catalog_dec, match_radius_arcsec):
    """Separations (mas) of the positions (ra, dec) from their nearest catalogue star, for matches within radius."""
    if len(ra) == 0 or len(catalog_ra) == 0:
        return np.empty(0)
    measured = SkyCoord(ra * u.deg, dec * u.deg)
    catalogue = SkyCoord(np.asarray(catalog_ra) * u.deg, np.asarray(catalog_dec) * u.deg)
    _, separation, _ = measured.match_to_catalog_sky(catalogue)
    separation = separation.to_value(u.mas)
    return separation[separation <= match_radius_arcsec * 1000.0]


def frame_qa(image, flagged, wcs, catalog=None, nsigma=5.0, max_fitted=100, match_radius_arcsec=0.1):
    """The quality numbers of one frame (a dict); ``wcs`` is APE-14, ``catalog`` (ra, dec) arrays in deg or None.

    Keys: sky_level, sky_noise (units of the image), flagged_fraction, n_stars, fwhm_pixels, n_fitted,
    n_matched, wcs_offset_mas (NaN when there is no catalogue or no match).
    """
    numbers, _ = measure_frame(image, flagged, wcs, catalog, nsigma, max_fitted, match_radius_arcsec)
    return numbers


def measure_frame(image, flagged, wcs, catalog=None, nsigma=5.0, max_fitted=100, match_radius_arcsec=0.1,
                  npixels=5, kernel_fwhm=3.0):
    """(quality numbers, stars) of one frame: ``frame_qa``'s dict, and the Table of the stars it counted,
    brightest first.

    Stars' columns: id (1..N), x, y (0-based pixels, pixel (0, 0) centred at (0, 0): the Gaussian fit's position
    where the star was fitted, else the isophotal centroid), ra, dec (deg: ``wcs`` at x, y), flux and peak (the
    sum over the source's segment and the highest pixel, above the sky; units of the image), fwhm (pixels: the
    fit's, NaN where not fitted), fitted (whether it was). Its meta: the sky and the detection and fit parameters.
    """
    flagged = flagged | ~np.isfinite(image)
    sky, noise = sky_statistics(image, flagged)
    stars = detect_stars(image, flagged, sky, nsigma=nsigma, npixels=npixels, kernel_fwhm=kernel_fwhm)
    fwhm_guess = float(np.nanmedian(stars["moment_fwhm"][:max_fitted])) if len(stars) else 3.0
    fit_size = max(7, 2 * int(round(1.5 * fwhm_guess)) + 1)  # odd, about 3 FWHM across
    brightest = stars[:max_fitted]
    fit_x, fit_y, fit_fwhm = fit_stars(image, flagged, sky, brightest["x"], brightest["y"], fwhm_guess, fit_size)
    fitted = np.zeros(len(stars), bool)
    fitted[: len(fit_fwhm)] = np.isfinite(fit_fwhm)
    chosen = np.flatnonzero(fitted)  # among the brightest, so indices of the fit's arrays too
    x, y, fwhm = np.array(stars["x"]), np.array(stars["y"]), np.full(len(stars), np.nan)
    x[chosen], y[chosen], fwhm[chosen] = fit_x[chosen], fit_y[chosen], fit_fwhm[chosen]
    ra, dec = (np.atleast_1d(value) for value in wcs.pixel_to_world_values(x, y)) if len(x) else (np.empty(0),) * 2
    offsets = np.empty(0)
    if catalog is not None and fitted.any():
        offsets = catalog_offsets_mas(ra[fitted], dec[fitted], *catalog, match_radius_arcsec)
    numbers = {
        "sky_level": sky,
        "sky_noise": noise,
        "flagged_fraction": float(flagged.mean()),
        "n_stars": int(len(stars)),
        "fwhm_pixels": float(np.median(fwhm[fitted])) if fitted.any() else float("nan"),
        "n_fitted": int(fitted.sum()),
        "n_matched": int(len(offsets)),
        "wcs_offset_mas": float(np.median(offsets)) if len(offsets) else float("nan"),
    }
    table = Table({
        "id": np.arange(1, len(stars) + 1), "x": x, "y": y, "ra": ra, "dec": dec, "flux": np.array(stars["flux"]),
        "peak": np.array(stars["peak"]), "fwhm": fwhm, "fitted": fitted,
    })
    table.meta.update({
        "sky_level": sky, "sky_noise": noise, "nsigma": nsigma, "npixels": npixels, "kernel_fwhm_pixels": kernel_fwhm,
        "max_fitted": max_fitted, "fit_size_pixels": fit_size, "fwhm_guess_pixels": fwhm_guess,
    })
    return numbers, table
