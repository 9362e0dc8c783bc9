"""Point sources of a frame for its alignment: positions of the brightest stars, background subtracted.

The background B and its noise sigma are measured in boxes of ``box_size`` pixels (sigma-clipped median and
standard deviation of the usable pixels, photutils' Background2D), or over the whole frame when too few
boxes have enough usable pixels. DAOFIND (photutils' DAOStarFinder) convolves SCI - B with a Gaussian of the
expected FWHM and keeps the local maxima above ``snr_threshold`` x sigma (scaled by the kernel, as DAOFIND
does) whose sharpness and roundness are those of a star, so single hot pixels and cosmic rays are left out;
unusable pixels (DO_NOT_USE, not finite) take no part.
"""

import numpy as np
from astropy.stats import SigmaClip, sigma_clipped_stats
from astropy.table import Table
from photutils.background import Background2D, MedianBackground, StdBackgroundRMS
from photutils.detection import DAOStarFinder

__all__ = ["background", "find_sources", "find_stars"]

#: Sigma clipping of the background statistics.
BACKGROUND_CLIP = SigmaClip(sigma=3.0, maxiters=10)


def background(data, unusable, box_size):
    """(B, sigma): the background map of ``data`` and the median of its noise map, from the usable pixels."""
    box = int(min(box_size, *data.shape))
    try:
        estimate = Background2D(
            data, box, mask=unusable, sigma_clip=BACKGROUND_CLIP,
            bkg_estimator=MedianBackground(), bkg_rms_estimator=StdBackgroundRMS(),
        )
        return estimate.background, float(estimate.background_rms_median)
    except ValueError:  # too few usable pixels in too many boxes: one level for the frame
        _, median, std = sigma_clipped_stats(data, mask=unusable, sigma=BACKGROUND_CLIP.sigma, maxiters=10)
        return np.full(data.shape, median), float(std)


def find_sources(data, unusable, fwhm_pixels, snr_threshold, brightest=None, peakmax=None, box_size=128):
    """Table of the stars of ``data`` (x, y 0-based pixels, flux above the background), brightest first;
    ``unusable`` is True where a pixel must not be used, ``brightest`` keeps that many, ``peakmax`` drops
    stars whose peak exceeds it (near saturation, their centroids are biased)."""
    unusable = np.asarray(unusable, dtype=bool) | ~np.isfinite(data)
    if unusable.all():
        return _no_stars()
    filled = np.where(unusable, 0.0, data)
    level, noise = background(filled, unusable, box_size)
    return find_stars(filled - level, unusable, noise, fwhm_pixels, snr_threshold, brightest, peakmax)


def find_stars(subtracted, unusable, noise, fwhm_pixels, snr_threshold, brightest=None, peakmax=None):
    """``find_sources`` on a frame whose background is already subtracted, ``noise`` its sigma."""
    if not (np.isfinite(noise) and noise > 0):
        return _no_stars()
    finder = DAOStarFinder(
        threshold=snr_threshold * noise, fwhm=fwhm_pixels, exclude_border=True, n_brightest=brightest, peak_max=peakmax,
    )
    stars = finder.find_stars(subtracted, mask=unusable)
    if stars is None:
        return _no_stars()
    stars.sort("flux", reverse=True)
    return Table({"x": stars["x_centroid"], "y": stars["y_centroid"], "flux": stars["flux"]})


def _no_stars():
    return Table({"x": [], "y": [], "flux": []}, dtype=(float, float, float))
