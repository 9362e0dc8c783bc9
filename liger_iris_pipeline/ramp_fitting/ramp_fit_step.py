"""RampFitStep: the count-rate frame (L1 raw frame) of a ramp, as the readout processor would deliver it."""

import numpy as np

from .. import units
from ..base_step import RampStep, StepInputError
from ..datamodels import ImagerModel
from .ols_fit import fit_ramps

__all__ = ["RampFitStep"]


class RampFitStep(RampStep):
    """Optimally weighted least-squares rate of every pixel (CDS, MCDS and UTR), ERR from Poisson and read
    noise, DQ from PIXELDQ and the group flags; the output is an ImagerModel in DN/s with GAIN."""

    class_alias = "ramp_fit"
    spec = """
    suffix = string(default='raw')  # The count-rate frame (L1 raw frame)
    """
    reference_file_types = ["gain", "readnoise"]

    def process(self, input_data):
        ramp = self.open_input(input_data)
        maps = self.readout_maps(ramp)
        if maps is None:
            raise StepInputError(f"{ramp.meta.filename}: ramp_fit needs gain and readnoise references, got N/A")
        gain, readnoise = maps
        exposure = ramp.meta.exposure
        ngroups = ramp.data.shape[1]
        if exposure.readmode in ("CDS", "MCDS") and ngroups != 2:
            raise StepInputError(f"{ramp.meta.filename}: READMODE {exposure.readmode} needs 2 groups, SCI has {ngroups}")
        rate, err, dq = fit_ramps(
            ramp.data, ramp.groupdq, ramp.pixeldq, gain, readnoise, exposure.nframes, exposure.frame_time,
            exposure.group_time,
        )
        frame = ImagerModel(data=rate, err=err, dq=dq)
        frame.update(ramp)
        frame.meta.bunit_data = frame.meta.bunit_err = units.RATE
        frame.meta.exposure.gain = float(np.nanmedian(gain))
        frame.meta.filename = ramp.meta.filename
        ramp.close()
        self.record(frame, "COMPLETE")
        return frame
