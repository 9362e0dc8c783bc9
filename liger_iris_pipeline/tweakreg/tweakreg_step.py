"""TweakRegStep: align the WCS of a dithered observation's frames to each other and to a reference catalogue."""

import json
import logging

import numpy as np
from astropy.table import Table

from ..base_step import LigerIrisStep, StepInputError
from ..datamodels.library import exposure_group
from ..dqflags import pixel
from ..instruments import IMAGERS, diffraction_fwhm_arcsec
from .alignment import FitParameters, MatchParameters, align_absolute, align_relative
from .sources import find_sources
from .wcs_correction import GWCSCorrector, WCSStructureError, corrected_fits_keywords

__all__ = ["TweakRegStep"]

log = logging.getLogger(__name__)


def read_reference_catalog(path):
    """The reference catalogue at ``path`` as a Table of RA, DEC (deg); StepInputError naming it otherwise."""
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as error:  # astropy raises many kinds for a file it cannot read
        raise StepInputError(f"{path}: cannot read the reference catalogue as ECSV ({type(error).__name__}: {error})") from error
    columns = {name.lower(): name for name in table.colnames}
    missing = [name for name in ("ra", "dec") if name not in columns]
    if missing:
        raise StepInputError(f"{path}: reference catalogue has no {' or '.join(missing)} column (it has {', '.join(table.colnames) or 'none'})")
    catalog = Table({"RA": np.asarray(table[columns["ra"]], float), "DEC": np.asarray(table[columns["dec"]], float)})
    if len(catalog) == 0 or not np.all(np.isfinite(catalog["RA"]) & np.isfinite(catalog["DEC"])):
        raise StepInputError(f"{path}: reference catalogue is empty or has non-finite ra/dec")
    return catalog


def kernel_fwhm_pixels(model, kernel_fwhm):
    """The FWHM (pixels) to detect stars with: ``kernel_fwhm`` if given, else the diffraction limit in the
    frame's filter at its plate scale; StepInputError naming the frame when neither is known."""
    if kernel_fwhm is not None:
        return kernel_fwhm
    instrument, filter_name = model.meta.instrument.name, model.meta.instrument.filter
    fwhm_arcsec = diffraction_fwhm_arcsec(instrument, filter_name)
    if fwhm_arcsec is None:
        raise StepInputError(
            f"{model.meta.filename}: no diffraction-limited FWHM known for {instrument} in filter "
            f"{filter_name!r}; give kernel_fwhm"
        )
    return fwhm_arcsec / (model.meta.instrument.pixel_scale or IMAGERS[instrument].pixel_scale)


def _group_name(group):
    """A group as the history shows it, e.g. 'P001/001/3'."""
    return "/".join(str(part) for part in group[1:]) if group is not None else "own"


def _members(groups):
    """{group: [member indices]}, a member without a group alone under its own key."""
    members = {}
    for index, group in enumerate(groups):
        members.setdefault(group if group is not None else ("alone", index), []).append(index)
    return members


class TweakRegStep(LigerIrisStep):
    """Correct each frame's WCS so that its stars fall where the other frames' (and the catalogue's) do.

    Stars are found in each frame (DAOFIND on the background-subtracted SCI, DO_NOT_USE pixels left out), the
    frames are aligned to each other with tweakwcs (``fitgeometry``, matching in arcsec), then, with
    ``abs_refcat``, moved together onto the catalogue's RA/Dec. The correction goes into the gWCS (an affine
    ``tangent_plane_correction`` before its TAN projection) and into the FITS keywords (CRVAL, PC), which
    agree. A frame that cannot be aligned (fewer than ``minobj`` stars or matches) keeps its WCS and is
    SKIPPED, with a warning; each frame's HISTORY holds its fit (shift in mas, rotation, RMS, matches).

    The frames of one exposure (IRIS's four detectors: one telescope pointing) are aligned as one group, one
    rigid body with one correction, so that detectors which overlap nothing (the mosaic's gaps are wider than a
    small dither) are carried by the others. An exposure is known by its PROGRAM, OBSERVTN and EXPOSURE
    keywords, else by DATE-OBS and TIME-OBS; a frame with neither is a group of its own
    (``datamodels.library.exposure_group``).
    ``minobj`` then counts the stars of the whole group.
    """

    class_alias = "tweakreg"
    combines_members = True
    spec = """
    suffix = string(default='tweakreg')  # Frames with the aligned WCS
    snr_threshold = float(default=10.0)  # Detection threshold, in background noise sigmas
    kernel_fwhm = float(default=None)  # FWHM (pixels) of the detection kernel; default the diffraction limit in the frame's filter
    bkg_boxsize = integer(default=256)  # Box (pixels) of the background map
    brightest = integer(default=200)  # Keep only this many brightest stars per frame
    peakmax = float(default=None)  # Drop stars whose peak (above the background) exceeds this (near saturation)
    enforce_user_order = boolean(default=False)  # Align in the given order (the first frame as reference) instead of by overlap
    expand_refcat = boolean(default=False)  # Add each aligned frame's stars to the relative reference catalogue
    minobj = integer(default=15)  # Fewest stars (and matches) a frame needs to be aligned
    searchrad = float(default=0.25)  # Search radius of the matching (arcsec)
    use2dhist = boolean(default=True)  # Find the initial offset from a 2D histogram of pair offsets
    separation = float(default=0.05)  # Stars closer than this (arcsec) to another are not matched
    tolerance = float(default=0.02)  # Matching tolerance (arcsec) after the initial offset
    xoffset = float(default=0.0)  # Initial offset east (arcsec) when use2dhist is False
    yoffset = float(default=0.0)  # Initial offset north (arcsec) when use2dhist is False
    fitgeometry = option('shift', 'rshift', 'rscale', 'general', default='rshift')  # Fit of the relative alignment
    nclip = integer(min=0, default=3)  # Clipping rounds of the fit
    sigma = float(min=0.0, default=3.0)  # Clipping limit, in fit RMS
    abs_refcat = string(default='')  # ECSV reference catalogue (ra, dec in deg) for the absolute alignment; '' for none
    abs_minobj = integer(default=15)  # Fewest matches the absolute alignment needs
    abs_searchrad = float(default=1.0)  # Search radius (arcsec) of the absolute matching
    abs_use2dhist = boolean(default=True)  # Initial offset from a 2D histogram in the absolute matching
    abs_separation = float(default=0.05)  # Minimum separation (arcsec) in the absolute matching
    abs_tolerance = float(default=0.02)  # Matching tolerance (arcsec) of the absolute matching
    abs_fitgeometry = option('shift', 'rshift', 'rscale', 'general', default='rshift')  # Fit of the absolute alignment
    abs_nclip = integer(min=0, default=3)  # Clipping rounds of the absolute fit
    abs_sigma = float(min=0.0, default=3.0)  # Clipping limit of the absolute fit, in fit RMS
    """

    def process(self, frames):
        library = self.open_library(frames)
        refcat = read_reference_catalog(self.abs_refcat) if self.abs_refcat.strip() else None
        correctors, groups = self._correctors(library)
        outcomes = [{"group": _group_name(group)} if group is not None else {} for group in groups]
        usable = []
        for members in _members(groups).values():
            n_stars = sum(len(correctors[index].meta["catalog"]) for index in members)
            if n_stars < self.minobj:
                for index in members:
                    outcomes[index]["relative"] = {"status": "failed", "reason": f"{n_stars} stars found in its exposure, minobj {self.minobj}"}
            else:
                usable.extend(members)
        usable.sort()
        if len({groups[index] for index in usable}) >= 2:
            relative = align_relative(
                [correctors[index] for index in usable], self._match(""), self._fit(""),
                self.enforce_user_order, self.expand_refcat, [groups[index] for index in usable],
            )
            for index, outcome in zip(usable, relative):
                outcomes[index]["relative"] = outcome.summary()
            usable = [index for index, outcome in zip(usable, relative) if outcome.succeeded]
        elif usable and refcat is None:
            for index in usable:
                outcomes[index]["relative"] = {"status": "failed", "reason": "no other exposure to align to"}
            usable = []
        if refcat is not None and usable:
            absolute = align_absolute([correctors[index] for index in usable], refcat, self._match("abs_"), self._fit("abs_"))
            for index, outcome in zip(usable, absolute):
                outcomes[index]["absolute"] = outcome.summary()
            if not absolute[0].succeeded:
                log.warning("absolute alignment to %s failed (%s): the frames keep their relative alignment", self.abs_refcat, absolute[0].reason)
                if "relative" not in outcomes[usable[0]]:  # a lone exposure: nothing was aligned
                    usable = []
        self._apply(library, correctors, outcomes, set(usable))
        self.save_members(library)
        return library

    def _correctors(self, library):
        """A GWCSCorrector per member, with its star catalogue, and each member's exposure group (or None);
        StepInputError for a frame without a usable WCS or of another instrument than the first."""
        correctors, groups, instrument = [], [], None
        for index in range(len(library)):
            with library.frame(index) as model:
                name = model.meta.filename
                instrument = instrument or model.meta.instrument.name
                if model.meta.instrument.name != instrument:
                    raise StepInputError(f"{name}: instrument {model.meta.instrument.name}, the other frames are {instrument}")
                if model.meta.wcs is None:
                    raise StepInputError(f"{name}: no WCS (meta.wcs); run assign_wcs first")
                try:
                    corrector = GWCSCorrector(model.meta.wcs, meta={"name": name})
                except WCSStructureError as error:
                    raise StepInputError(f"{name}: WCS cannot be aligned: {error}") from error
                corrector.meta["catalog"] = self._sources(model)
                groups.append(exposure_group(model.meta))
                log.info("%s: %d stars, exposure %s", name, len(corrector.meta["catalog"]), _group_name(groups[-1]))
            correctors.append(corrector)
        return correctors, groups

    def _sources(self, model):
        """The stars of ``model`` (x, y, flux), with the step's detection parameters."""
        fwhm = kernel_fwhm_pixels(model, self.kernel_fwhm)
        unusable = (model.dq & pixel["DO_NOT_USE"]) != 0
        return find_sources(model.data, unusable, fwhm, self.snr_threshold, self.brightest, self.peakmax, self.bkg_boxsize)

    def _match(self, prefix):
        parameter = lambda name: getattr(self, prefix + name)  # noqa: E731
        offsets = (self.xoffset, self.yoffset) if not prefix else (0.0, 0.0)
        return MatchParameters(
            parameter("searchrad"), parameter("separation"), parameter("tolerance"), parameter("use2dhist"), *offsets
        )

    def _fit(self, prefix):
        parameter = lambda name: getattr(self, prefix + name)  # noqa: E731
        return FitParameters(parameter("fitgeometry"), parameter("minobj"), parameter("nclip"), parameter("sigma"))

    def _apply(self, library, correctors, outcomes, aligned):
        """Put the corrected WCS (gWCS and keywords) of the ``aligned`` members into ``library``; record each
        member's status and fit."""
        for index, corrector in enumerate(correctors):
            status = "COMPLETE" if index in aligned else "SKIPPED"
            if index in aligned:
                with library.frame(index, arrays=("data",)) as model:
                    info = model.meta.wcsinfo
                    keywords = corrected_fits_keywords(
                        corrector.wcs, (info.crpix1, info.crpix2), (info.cdelt1, info.cdelt2), model.data.shape
                    )
                library.update_meta(index, {"meta.wcs": corrector.wcs, **{f"meta.wcsinfo.{key}": value for key, value in keywords.items()}})
            else:
                log.warning("%s: not aligned (%s); its WCS is left as it was", library.names[index], json.dumps(outcomes[index]))
            library.add_history_entry(index, f"tweakreg fit: {json.dumps(outcomes[index])}", software=self.software)
            self.record_member(library, index, status)
        if not aligned:
            log.warning("tweakreg: no frame could be aligned; every WCS is left as it was")
