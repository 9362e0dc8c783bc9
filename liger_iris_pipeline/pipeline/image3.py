"""Image3Pipeline: the calibrated (L2b) frames of a dithered observation -> outlier-flagged frames, mosaic and
source catalogue (Level 3)."""

import os

from ..base_step import LigerIrisPipeline
from ..outlier_detection.outlier_detection_step import OutlierDetectionStep
from ..resample.resample_step import ResampleStep
from ..skymatch.skymatch_step import SkyMatchStep
from ..source_catalog.source_catalog_step import SourceCatalogStep
from ..tweakreg.tweakreg_step import TweakRegStep

__all__ = ["Image3Pipeline"]

#: The steps that work on the frames (a FrameLibrary in, the same out), in order; resample then makes the mosaic.
FRAME_STEPS = ("tweakreg", "skymatch", "outlier_detection")


class Image3Pipeline(LigerIrisPipeline):
    """tweakreg -> skymatch -> outlier_detection -> resample -> source_catalog on the science members of an
    association product (jwst's calwebb_image3), each step configurable or skippable by its name.

    The frames are read one at a time (``FrameLibrary``): the WCS corrections and sky levels travel as metadata,
    the outlier flags as each frame's ``_crf`` file. Products, named after the association's product (or
    ``output_file``): ``<member>_crf.fits`` per frame, ``<product>_i2d.fits`` (the mosaic), ``<product>_cat.ecsv``
    and ``<product>_cat.reg``. A skipped frame step records SKIPPED in every frame.
    """

    class_alias = "image3"
    combines_members = True
    spec = """
    suffix = string(default='i2d')  # The pipeline's product is the mosaic
    processes = integer(min=1, max=2, default=None)  # Processes of the drizzling steps (outlier_detection, resample); None: their own
    """
    step_defs = {
        "tweakreg": TweakRegStep,
        "skymatch": SkyMatchStep,
        "outlier_detection": OutlierDetectionStep,
        "resample": ResampleStep,
        "source_catalog": SourceCatalogStep,
    }

    def process(self, frames):
        if self.processes is not None:
            self.outlier_detection.processes = self.resample.processes = self.processes
        library = self.tweakreg.open_library(frames)
        try:
            for name in FRAME_STEPS:
                step = getattr(self, name)
                if step.skip:
                    for index in range(len(library)):
                        step.record_member(library, index, "SKIPPED")
                    continue
                if name == "outlier_detection":  # the _crf frames are products of the pipeline
                    step.save_results = step.save_results or self.save_results
                library = step.run(library)
            mosaic = self.resample.run(library)
        finally:
            if library is not frames:
                library.close()
        if self.save_results:  # the catalogue and its regions are products of the pipeline, named like the mosaic
            mosaic.meta.filename = os.path.basename(self.make_output_path())
            self.source_catalog.save_results = True
        if self.source_catalog.skip:
            mosaic.meta.cal_step.source_catalog = "SKIPPED"
        else:
            self.source_catalog.run(mosaic)
        return mosaic
