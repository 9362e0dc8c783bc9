"""Quick-look image of a frame: downsampled, stretched, flagged pixels in colour, N/E arrows and a scale bar.

Plain numpy, astropy.visualization and matplotlib (the Agg canvas, no pyplot state), so it runs in batch jobs.
The WCS is any APE-14 object (gwcs, astropy.wcs): pixels are 0-based (x, y) with the centre of pixel (0, 0)
at (0, 0).
"""

import math

import numpy as np
from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval, ImageNormalize, ZScaleInterval
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import replacing

STRETCHES = ("zscale", "asinh")
#: Colour (RGBA) of flagged pixels over the image.
FLAGGED_COLOUR = (1.0, 0.1, 0.1, 0.9)
#: Candidate scale-bar lengths: 1, 2 and 5 times a power of ten arcseconds.
_NICE_MANTISSAS = (1.0, 2.0, 5.0)


def block_average(image, flagged, max_size):
    """Average ``image`` over square blocks so that neither side exceeds ``max_size``, ignoring flagged pixels.

    Returns (small image, small flagged mask, block factor). A block is flagged when any of its pixels is; its
    value is the mean of its unflagged pixels (NaN when it has none). Rows and columns beyond the last whole
    block are dropped.
    """
    factor = max(1, math.ceil(max(image.shape) / max_size))
    if factor == 1:
        return np.where(flagged, np.nan, image), flagged.copy(), 1
    ny, nx = (side // factor for side in image.shape)
    blocks = (ny, factor, nx, factor)
    good = ~flagged[: ny * factor, : nx * factor]
    values = np.where(good, image[: ny * factor, : nx * factor], 0.0).reshape(blocks).sum(axis=(1, 3))
    counts = good.reshape(blocks).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        small = values / counts
    small[counts == 0] = np.nan
    return small, counts < factor * factor, factor


def image_norm(image, stretch):
    """The display normalisation: ``zscale`` (IRAF's zscale limits, linear) or ``asinh`` (0.5-99.9 %)."""
    finite = image[np.isfinite(image)]
    if stretch == "zscale":
        return ImageNormalize(finite, interval=ZScaleInterval())
    if stretch == "asinh":
        return ImageNormalize(finite, interval=AsymmetricPercentileInterval(0.5, 99.9), stretch=AsinhStretch(0.05))
    raise ValueError(f"stretch must be one of {', '.join(STRETCHES)}, got {stretch!r}")


def north_east_directions(wcs, x, y):
    """Unit vectors (dx, dy) in pixels pointing north and east on the sky at pixel (x, y) of ``wcs``."""
    ra, dec = wcs.pixel_to_world_values(x, y)
    step = pixel_scale_arcsec(wcs, x, y) / 3600.0
    north = np.array(wcs.world_to_pixel_values(ra, dec + step)) - (x, y)
    east = np.array(wcs.world_to_pixel_values(ra + step / math.cos(math.radians(dec)), dec)) - (x, y)
    return north / np.hypot(*north), east / np.hypot(*east)


def pixel_scale_arcsec(wcs, x, y):
    """Geometric mean of the sky lengths (arcsec) of one pixel step along x and along y at pixel (x, y)."""
    corners = np.array([wcs.pixel_to_world_values(px, py) for px, py in ((x, y), (x + 1, y), (x, y + 1))])
    ra, dec = np.radians(corners.T)
    lengths = [_angular_distance(ra[0], dec[0], ra[i], dec[i]) for i in (1, 2)]
    return math.degrees(math.sqrt(lengths[0] * lengths[1])) * 3600.0


def _angular_distance(ra1, dec1, ra2, dec2):
    """Great-circle distance (radians) by the haversine formula, exact for small angles."""
    a = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return 2.0 * math.asin(math.sqrt(a))


def scale_bar_arcsec(width_arcsec, fraction=0.25):
    """The longest 1, 2 or 5 x 10**k arcsec bar not exceeding ``fraction`` of the image width."""
    target = width_arcsec * fraction
    power = math.floor(math.log10(target))
    return max(m * 10.0**power for m in _NICE_MANTISSAS if m * 10.0**power <= target)


def render_quicklook(path, image, flagged, wcs, title, stretch="zscale", max_size=1024):
    """Write the quick-look PNG of ``image`` (full-resolution pixels) to ``path`` atomically.

    Flagged pixels are drawn in red over the stretched image; the compass (N and E arrows) and the scale bar
    come from ``wcs`` at the image centre. Returns a dict of what was drawn (block factor, arrow unit vectors,
    scale-bar length in arcsec and pixels), in full-resolution pixels.
    """
    small, small_flagged, factor = block_average(image, flagged, max_size)
    ny, nx = small.shape[0] * factor, small.shape[1] * factor
    extent = (-0.5, nx - 0.5, -0.5, ny - 0.5)  # small pixels drawn at their full-resolution positions
    centre = ((image.shape[1] - 1) / 2.0, (image.shape[0] - 1) / 2.0)
    north, east = north_east_directions(wcs, *centre)
    scale = pixel_scale_arcsec(wcs, *centre)
    bar_arcsec = scale_bar_arcsec(nx * scale)

    figure = Figure(figsize=(7.0, 7.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.11, 0.06, 0.85, 0.84))  # room for 4-digit y tick labels
    axes.imshow(small, origin="lower", cmap="gray", norm=image_norm(small, stretch), extent=extent,
                interpolation="nearest")
    overlay = np.zeros((*small.shape, 4))
    overlay[small_flagged] = FLAGGED_COLOUR
    axes.imshow(overlay, origin="lower", extent=extent, interpolation="nearest")
    _draw_compass(axes, nx, ny, north, east)
    bar_pixels = bar_arcsec / scale
    _draw_scale_bar(axes, nx, ny, bar_pixels, bar_arcsec)
    axes.set_xlabel("x [pixel]")
    axes.set_ylabel("y [pixel]")
    axes.set_title(title, fontsize=10)
    with replacing(path) as temporary:
        figure.savefig(temporary, format="png")
    return {"factor": factor, "north": north, "east": east, "bar_arcsec": bar_arcsec, "bar_pixels": bar_pixels}


def _draw_compass(axes, nx, ny, north, east):
    """N and E arrows, 10 % of the frame long, from a point near the top-right corner."""
    length = 0.1 * min(nx, ny)
    origin = np.array([nx - 1.6 * length, ny - 1.6 * length])
    for label, direction in (("N", north), ("E", east)):
        tip = origin + length * direction
        axes.annotate("", xy=tip, xytext=origin, arrowprops={"arrowstyle": "->", "color": "cyan", "lw": 2})
        axes.text(*(origin + 1.3 * length * direction), label, color="cyan", ha="center", va="center",
                  fontsize=12, fontweight="bold")


def _draw_scale_bar(axes, nx, ny, bar_pixels, bar_arcsec):
    """A horizontal bar of ``bar_pixels`` near the bottom-left corner, labelled in arcsec or mas."""
    x0, y0 = 0.05 * nx, 0.06 * ny
    axes.plot([x0, x0 + bar_pixels], [y0, y0], color="yellow", lw=3)
    label = f"{bar_arcsec:g}\"" if bar_arcsec >= 1 else f"{bar_arcsec * 1000:g} mas"
    axes.text(x0 + bar_pixels / 2, y0 + 0.02 * ny, label, color="yellow", ha="center", va="bottom", fontsize=11)
