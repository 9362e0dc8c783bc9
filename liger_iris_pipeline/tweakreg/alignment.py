"""Alignment of frames to each other and to a reference catalogue, with tweakwcs.

Relative: the frames' star catalogues are matched in a common tangent plane (xyxymatch: a 2D histogram of
the offsets of all pairs within ``searchrad`` finds the initial offset, then stars are paired within
``tolerance``; stars closer than ``separation`` to another are left out), and each frame's tangent plane is
fitted by a linear map to the reference frame's (the one that overlaps the others most, unless the user's
order is enforced) with ``nclip`` rounds of ``sigma`` x RMS clipping. The map is, by ``fitgeometry``:

    shift    p' = p + s
    rshift   p' = R(theta) p + s
    rscale   p' = k R(theta) p + s
    general  p' = A p + s   (6 parameters)

Groups: frames with the same ``group_id`` (the detectors of one exposure: one telescope pointing) are aligned
as one rigid body, as jwst's tweakreg does: tweakwcs merges their catalogues into one, fits one map for the group
(in the reference frame's tangent plane) and gives every member that same correction. The detectors of an
exposure need not overlap each other, and a member with too few stars of its own is carried by the others.

Absolute: the (relatively aligned) frames move together, as one group, onto the catalogue stars' RA/Dec.
The group's catalogue holds each star once: a star seen in several frames is kept in the first of them only
(copies within ``separation`` / 2 on the sky are one star). With every copy, the one-to-one matching would pick,
for each catalogue star, the copy nearest its position *before* the fit, so the chosen copies' noise leans
towards the offset being fitted and the fitted shift falls short of it (measured: 0.13 mas of a 9 mas offset
with 9 frames of 0.2 mas centroid noise); the frame a copy comes from does not depend on its noise.
A frame whose catalogue has fewer than ``minobj`` stars, or whose fit has fewer than ``minobj`` matches, is
not aligned (tweakwcs's status FAILED), and its WCS is left as it was.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from tweakwcs.imalign import NotEnoughCatalogs, align_wcs
from tweakwcs.matchutils import XYXYMatch

__all__ = ["MatchParameters", "FitParameters", "FitOutcome", "align_relative", "align_absolute"]

MAS_PER_ARCSEC = 1000.0


@dataclass(frozen=True)
class MatchParameters:
    """xyxymatch's parameters, in arcsec of the tangent plane."""

    searchrad: float
    separation: float
    tolerance: float
    use2dhist: bool = True
    xoffset: float = 0.0
    yoffset: float = 0.0

    def matcher(self):
        return XYXYMatch(
            searchrad=self.searchrad, separation=self.separation, use2dhist=self.use2dhist,
            xoffset=self.xoffset, yoffset=self.yoffset, tolerance=self.tolerance,
        )


@dataclass(frozen=True)
class FitParameters:
    fitgeometry: str
    minobj: int
    nclip: int
    sigma: float


@dataclass(frozen=True)
class FitOutcome:
    """What the alignment did to one frame: ``status`` 'aligned', 'reference' (the others were aligned to
    it; it is unchanged) or 'failed'; for an aligned frame its shift (east, north) and RMS in mas, rotation
    in deg, scale and number of matched stars; ``reason`` for a failure."""

    status: str
    shift_mas: tuple = (0.0, 0.0)
    rotation_deg: float = 0.0
    scale: float = 1.0
    rms_mas: float = float("nan")
    n_matches: int = 0
    reason: str = ""

    @property
    def succeeded(self):
        return self.status in ("aligned", "reference")

    def summary(self):
        """A dict of the outcome for the history (JSON)."""
        if self.status == "failed":
            return {"status": self.status, "reason": self.reason}
        if self.status == "reference":
            return {"status": self.status}
        return {
            "status": self.status,
            "shift_mas": [round(value, 3) for value in self.shift_mas],
            "rotation_deg": round(self.rotation_deg, 7),
            "scale": round(self.scale, 9),
            "rms_mas": round(self.rms_mas, 3),
            "n_matches": self.n_matches,
        }


def _outcome(corrector):
    """The FitOutcome of ``corrector`` from the ``fit_info`` tweakwcs left in its meta."""
    info = corrector.meta.get("fit_info", {})
    status = info.get("status", "FAILED: not aligned")
    if status == "REFERENCE":
        return FitOutcome("reference")
    if status != "SUCCESS":
        return FitOutcome("failed", reason=status.removeprefix("FAILED: ").strip() or "fit failed")
    shift_mas = tuple(float(value) * MAS_PER_ARCSEC for value in info["shift"])
    return FitOutcome(
        "aligned",
        shift_mas=shift_mas,
        rotation_deg=float(info["proper_rot"]),
        scale=float(info["<scale>"]),
        rms_mas=float(info["rmse"]) * MAS_PER_ARCSEC,
        n_matches=int(info["nmatches"]),
    )


def _align(correctors, refcat, match, fit, enforce_user_order, expand_refcat):
    try:
        align_wcs(
            correctors, refcat=refcat, enforce_user_order=enforce_user_order, expand_refcat=expand_refcat,
            minobj=fit.minobj, match=match.matcher(), fitgeom=fit.fitgeometry, nclip=fit.nclip,
            sigma=(fit.sigma, "rmse"),
        )
    except NotEnoughCatalogs as error:
        return [FitOutcome("failed", reason=str(error)) for _ in correctors]
    return [_outcome(corrector) for corrector in correctors]


def align_relative(correctors, match, fit, enforce_user_order=False, expand_refcat=False, groups=None):
    """Align the frames of ``correctors`` (GWCSCorrector, each with its ``catalog`` of x, y in meta) to each
    other, those of equal ``groups`` entry (hashable; None: a group of its own) as one rigid body; their WCS are
    corrected in place. The FitOutcome of each."""
    for corrector, group in zip(correctors, groups or [None] * len(correctors)):
        corrector.meta["group_id"] = group
    return _align(correctors, None, match, fit, enforce_user_order, expand_refcat)


def first_copies(correctors, radius_arcsec):
    """Per corrector, a boolean mask of its catalogue's stars that no earlier corrector's kept star lies within
    ``radius_arcsec`` of on the sky (positions through the correctors' current WCS)."""
    kept_points, masks = np.zeros((0, 2)), []
    plane = correctors[0]
    for corrector in correctors:
        catalog = corrector.meta["catalog"]
        points = np.column_stack(plane.world_to_tanp(*corrector.det_to_world(catalog["x"], catalog["y"])))
        if len(kept_points) and len(points):
            distance, _ = cKDTree(kept_points).query(points, distance_upper_bound=radius_arcsec)
            mask = ~np.isfinite(distance)
        else:
            mask = np.ones(len(points), bool)
        masks.append(mask)
        kept_points = np.vstack([kept_points, points[mask]])
    return masks


def align_absolute(correctors, refcat, match, fit):
    """Move ``correctors`` together onto ``refcat`` (a Table with RA, DEC in deg), each star of the group once
    (module docstring). The FitOutcome of each."""
    catalogs = [corrector.meta["catalog"] for corrector in correctors]
    for corrector, mask in zip(correctors, first_copies(correctors, match.separation / 2.0)):
        corrector.meta["group_id"] = "absolute"
        corrector.meta["catalog"] = corrector.meta["catalog"][mask]
    try:
        return _align(correctors, refcat, match, fit, enforce_user_order=True, expand_refcat=False)
    finally:
        for corrector, catalog in zip(correctors, catalogs):
            corrector.meta["catalog"] = catalog
