"""SourceCatalogStep: the sources of an image (a mosaic or a calibrated frame) to an ECSV catalogue and a DS9
region file."""

import logging
import os
from datetime import datetime, timezone

import numpy as np

from .. import units
from ..base_step import LigerIrisStep, StepInputError
from ..catalog_files import ds9_regions, write_catalog_and_regions
from ..code_version import code_version
from ..dqflags import pixel
from ..instruments import diffraction_fwhm_arcsec
from .source_catalog import (
    FLAG_MEANINGS,
    NoUsablePixels,
    aperture_column,
    drizzle_variance_ratio,
    measure_sources,
    pixel_scale_arcsec,
    unusable_pixels,
)

__all__ = ["SourceCatalogStep"]

log = logging.getLogger(__name__)

#: Units and descriptions of the catalogue's columns (the aperture columns are added per aperture).
COLUMNS = {
    "id": (None, "source number, 1..N"),
    "x_centroid": ("pix", "windowed centroid, 0-based pixel (pixel 0 centred at 0)"),
    "y_centroid": ("pix", "windowed centroid, 0-based pixel (pixel 0 centred at 0)"),
    "ra": ("deg", "right ascension (ICRS) of the centroid, from the image's WCS"),
    "dec": ("deg", "declination (ICRS) of the centroid, from the image's WCS"),
    "background": ("DN/s", "local background per pixel: sigma-clipped median of the annulus"),
    "background_err": ("DN/s", "error of the local background per pixel"),
    "segment_flux": ("DN/s", "isophotal flux above the smooth (Background2D) background"),
    "segment_flux_err": ("DN/s", "error of segment_flux, from ERR (times sqrt(noise_correlation), the meta's drizzle noise correction)"),
    "fwhm": ("pix", "FWHM from the second moments of the convolved source, the kernel's removed in quadrature"),
    "flags": (None, "bit flags: " + "; ".join(f"{bit} {meaning}" for bit, meaning in FLAG_MEANINGS.items())),
    "is_isolated": (None, "no other source within the annulus' outer radius plus the largest aperture radius"),
}


class SourceCatalogStep(LigerIrisStep):
    """Detect the sources of an image in DN/s with a gWCS (SCI, ERR, DQ; a WHT map, when the model has one,
    masks the unexposed pixels), measure their centroids, sky positions and aperture fluxes with errors from ERR,
    and return the catalogue (an astropy Table). For a mosaic, the errors are corrected for the noise correlation
    of the drizzle its meta.resample records (the variance ratio goes to the catalogue's ``noise_correlation``),
    and its context map flags the sources whose aperture the set of frames changes within (COVERAGE). Saved (``save_results`` or ``output_file``) as
    ``<name>_cat.ecsv`` and ``<name>_cat.reg`` (DS9 ICRS circles of the largest aperture), both written whole or
    not at all. The image's S_SRCCAT becomes COMPLETE. Radii are in units of ``kernel_fwhm``, whose default is
    the diffraction limit of the telescope in the image's filter at the WCS's plate scale."""

    class_alias = "source_catalog"
    spec = """
    suffix = string(default='cat')  # Products <name>_cat.ecsv and <name>_cat.reg
    bkg_boxsize = integer(min=1, default=100)  # Box of the smooth background and its RMS used for detection [pixels]
    kernel_fwhm = float(min=0, default=None)  # FWHM of the Gaussian detection kernel and unit of the radii [pixels]; None: 1.028 lambda/D of the telescope in the filter
    snr_threshold = float(min=0, default=3.0)  # Detection threshold on the convolved image, in units of the background RMS per pixel
    npixels = integer(min=1, default=5)  # Fewest connected pixels above the threshold a source has
    deblend = boolean(default=True)  # Split segments with several peaks (the parts are flagged BLENDED)
    aperture_radii = float_list(min=1, default=list(0.5, 1.0, 2.0))  # Aperture radii in units of kernel_fwhm (columns aper1, aper2, ...)
    annulus_radii = float_list(min=2, max=2, default=list(3.0, 4.5))  # Inner and outer radius of the local background annulus, in units of kernel_fwhm
    """

    def open_input(self, input_data):
        """The image: a file read, or the caller's model itself (not a copy: the step changes only its S_SRCCAT
        and history); in DN/s, else StepInputError naming the file."""
        model = self.open_model(input_data)
        try:
            units.data_unit(model, (units.RATE,))
        except units.UnitError as error:
            if model is not input_data:
                model.close()
            raise StepInputError(str(error)) from error
        return model

    def process(self, input_data):
        model = self.open_input(input_data)
        try:
            name = model.meta.filename or "<in memory>"
            wcs = model.meta.wcs
            if wcs is None:
                raise StepInputError(f"{name}: no WCS (meta.wcs); run assign_wcs (or resample) first")
            # A mosaic has a weight map and no DQ, a frame the reverse (never a default-filled array of either).
            weight, dq = model.instance.get("wht"), model.instance.get("dq")
            unusable = unusable_pixels(model.data, model.err, dq, pixel["DO_NOT_USE"], weight)
            fwhm = self._kernel_fwhm(model, wcs)
            aperture_radii = [factor * fwhm for factor in self.aperture_radii]
            annulus_radii = [factor * fwhm for factor in self.annulus_radii]
            correlation = self._noise_correlation(model)
            try:
                catalog = measure_sources(
                    model.data, model.err, unusable, wcs, fwhm, aperture_radii, annulus_radii,
                    bkg_boxsize=self.bkg_boxsize, snr_threshold=self.snr_threshold, npixels=self.npixels,
                    deblend=self.deblend, noise_correlation=correlation, context=model.instance.get("con"),
                )
            except NoUsablePixels as error:
                raise StepInputError(f"{name}: {error}") from error
            self._describe(catalog, model, fwhm, aperture_radii, annulus_radii)
            catalog.meta["noise_correlation"] = correlation
            log.info("%s: %d sources", name, len(catalog))
            if self.save_results:
                self._save(catalog, wcs)
            self.record(model, "COMPLETE")
        finally:
            if model is not input_data:
                model.close()
        return catalog

    def _noise_correlation(self, model):
        """R**2, by which the errors' variances are multiplied (source_catalog.py): of the drizzle recorded in
        meta.resample for a mosaic, 1 for a frame (or a kernel R is not known for, with a warning)."""
        resample = model.meta.instance.get("resample") or {}
        if not resample.get("kernel"):
            return 1.0
        ratio = drizzle_variance_ratio(resample["kernel"], resample["pixfrac"], resample["pixel_scale_ratio"])
        if ratio is None:
            log.warning(
                "%s: drizzled with the %s kernel, whose noise correlation is not known: errors are those of "
                "independent pixels, too small", model.meta.filename, resample["kernel"],
            )
            return 1.0
        return ratio

    def _kernel_fwhm(self, model, wcs):
        """``kernel_fwhm``, or the diffraction limit in the filter over the WCS's plate scale at the image's
        centre; the radii are checked first."""
        name = model.meta.filename or "<in memory>"
        if not (max(self.aperture_radii) < self.annulus_radii[0] < self.annulus_radii[1]):
            raise StepInputError(
                f"{self.name}: annulus_radii {self.annulus_radii} must increase and lie beyond the largest of "
                f"aperture_radii {self.aperture_radii}"
            )
        if self.kernel_fwhm:
            return float(self.kernel_fwhm)
        instrument, filter_name = model.meta.instrument.name, model.meta.instrument.filter
        fwhm_arcsec = diffraction_fwhm_arcsec(instrument, filter_name)
        if fwhm_arcsec is None:
            raise StepInputError(
                f"{name}: no diffraction-limited FWHM known for {instrument} in filter {filter_name!r}; "
                "give kernel_fwhm"
            )
        ny, nx = model.data.shape
        centre_x, centre_y = np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0])
        return fwhm_arcsec / float(pixel_scale_arcsec(wcs, centre_x, centre_y)[0])

    def _describe(self, catalog, model, fwhm, aperture_radii, annulus_radii):
        """Units, descriptions and metadata (what was measured, on what, how) of ``catalog``."""
        for index, radius in enumerate(aperture_radii, start=1):
            for quantity, what in (("flux", "flux"), ("flux_err", "error of the flux")):
                catalog[aperture_column(index, quantity)].unit = "DN/s"
                catalog[aperture_column(index, quantity)].description = (
                    f"{what} in an aperture of radius {radius:.3f} pixels, local background removed, "
                    "not aperture-corrected" + ("" if quantity == "flux" else "; from ERR times sqrt(noise_correlation)")
                )
        for column, (unit, description) in COLUMNS.items():
            catalog[column].unit, catalog[column].description = unit, description
        meta = model.meta
        catalog.meta.update({
            "image": meta.filename,
            "telescope": meta.telescope,
            "instrument": meta.instrument.name,
            "detector": meta.instrument.detector,
            "filter": meta.instrument.filter,
            "bunit": "DN/s",
            "kernel_fwhm_pixels": fwhm,
            "aperture_radii_fwhm": list(self.aperture_radii),
            "aperture_radii_pixels": list(aperture_radii),
            "annulus_radii_pixels": list(annulus_radii),
            "bkg_boxsize": self.bkg_boxsize,
            "snr_threshold": self.snr_threshold,
            "npixels": self.npixels,
            "deblend": self.deblend,
            "flags": {int(bit): meaning for bit, meaning in FLAG_MEANINGS.items()},
            "software": "liger_iris_pipeline",
            "software_version": code_version(type(self).__module__),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })

    def _save(self, catalog, wcs):
        """Write ``<name>_cat.ecsv`` and ``<name>_cat.reg``, each whole or not at all."""
        catalog_path = self.make_output_path(suffix=self.suffix, ext="ecsv")
        region_path = self.make_output_path(suffix=self.suffix, ext="reg")
        radius = max(catalog.meta["aperture_radii_pixels"])
        x, y = np.asarray(catalog["x_centroid"], float), np.asarray(catalog["y_centroid"], float)
        title = (
            f"{len(catalog)} sources of {catalog.meta['image']} ({os.path.basename(catalog_path)}): "
            f"apertures of radius {radius:.3f} pixels"
        )
        radii_arcsec = radius * pixel_scale_arcsec(wcs, x, y) if len(catalog) else np.zeros(0)
        text = ds9_regions(catalog["id"], catalog["ra"], catalog["dec"], radii_arcsec, title)
        write_catalog_and_regions(catalog, catalog_path, region_path, text)
        log.info("Saved %s and %s", catalog_path, region_path)
