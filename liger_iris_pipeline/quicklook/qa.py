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
"""

import numpy as np
from astropy.coordinates import SkyCoord
from astropy import units as u
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from photutils.psf import CircularGaussianPRF, PSFPhotometry
from photutils.segmentation import SourceCatalog, detect_sources
from scipy.ndimage import gaussian_filter

#: Most pixels the sky statistics are computed from.
SKY_SAMPLE = 1_000_000
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def sky_statistics(image, flagged):
    """(sky level, sky noise): 3-sigma-clipped median and standard deviation of the unflagged pixels."""
    stride = max(1, int(np.ceil(np.sqrt(image.size / SKY_SAMPLE))))
    sample = (slice(None, None, stride), slice(None, None, stride))
    _, median, std = sigma_clipped_stats(image[sample], mask=flagged[sample], sigma=3.0, maxiters=10)
    return float(median), float(std)


def detect_stars(image, flagged, sky, nsigma=5.0, npixels=5, kernel_fwhm=3.0):
    """Centroids (x, y), fluxes above the sky and moment FWHMs (pixels) of the sources, brightest first."""
    above_sky = np.where(flagged, 0.0, image - sky)
    smoothed = gaussian_filter(above_sky, kernel_fwhm / FWHM_PER_SIGMA, mode="nearest")
    _, smoothed_noise = sky_statistics(smoothed, flagged)
    segments = detect_sources(smoothed, nsigma * smoothed_noise, n_pixels=npixels, mask=flagged)
    if segments is None:
        return tuple(np.empty(0) for _ in range(4))
    sources = SourceCatalog(above_sky, segments, convolved_data=smoothed, mask=flagged)
    order = np.argsort(sources.segment_flux)[::-1]
    columns = (sources.x_centroid, sources.y_centroid, sources.segment_flux, sources.fwhm.value)
    return tuple(np.asarray(column)[order] for column in columns)


def fit_stars(image, flagged, sky, x, y, fwhm_guess, fit_size):
    """Fit a pixel-integrated circular Gaussian to each star at (x, y): arrays of fitted x, y and FWHM (pixels).

    Stars whose fitting box leaves the frame, or whose fit photutils flags for anything but masked pixels in
    the box (flag 1, fewer pixels than the box: flagged pixels near a star are fine), are dropped.
    """
    half = fit_size // 2
    ny, nx = image.shape
    inside = (x >= half) & (x < nx - 1 - half) & (y >= half) & (y < ny - 1 - half)
    if not inside.any():
        return np.empty(0), np.empty(0), np.empty(0)
    model = CircularGaussianPRF(fwhm=fwhm_guess)
    model.fwhm.fixed = False
    photometry = PSFPhotometry(model, fit_size, aperture_radius=max(fwhm_guess, 2.0))
    initial = Table({"x": x[inside], "y": y[inside]})
    result = photometry(image - sky, mask=flagged, init_params=initial)
    good = ((result["flags"] & ~1) == 0) & np.isfinite(result["fwhm_fit"]) & (result["fwhm_fit"] > 0)
    return (np.asarray(result["x_fit"][good]), np.asarray(result["y_fit"][good]),
            np.asarray(result["fwhm_fit"][good]))


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
    flagged = flagged | ~np.isfinite(image)
    sky, noise = sky_statistics(image, flagged)
    x, y, _, moment_fwhm = detect_stars(image, flagged, sky, nsigma=nsigma)
    fwhm_guess = float(np.nanmedian(moment_fwhm[:max_fitted])) if len(x) else 3.0
    fit_size = max(7, 2 * int(round(1.5 * fwhm_guess)) + 1)  # odd, about 3 FWHM across
    fit_x, fit_y, fwhm = fit_stars(image, flagged, sky, x[:max_fitted], y[:max_fitted], fwhm_guess, fit_size)
    offsets = np.empty(0)
    if catalog is not None and len(fit_x):
        ra, dec = wcs.pixel_to_world_values(fit_x, fit_y)
        offsets = catalog_offsets_mas(np.atleast_1d(ra), np.atleast_1d(dec), *catalog, match_radius_arcsec)
    return {
        "sky_level": sky,
        "sky_noise": noise,
        "flagged_fraction": float(flagged.mean()),
        "n_stars": int(len(x)),
        "fwhm_pixels": float(np.median(fwhm)) if len(fwhm) else float("nan"),
        "n_fitted": int(len(fwhm)),
        "n_matched": int(len(offsets)),
        "wcs_offset_mas": float(np.median(offsets)) if len(offsets) else float("nan"),
    }
