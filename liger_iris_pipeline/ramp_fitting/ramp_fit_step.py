"""RampFitStep: the count-rate frame (L1 raw frame) of a ramp, as the readout processor would deliver it."""

import numpy as np

from .. import units
from ..base_step import RampStep, StepInputError
from ..datamodels import ImagerModel
from .ols_fit import fit_ramps

__all__ = ["RampFitStep"]


class RampFitStep(RampStep):
    """Optimally weighted least-squares rate of every pixel (CDS, MCDS and UTR), VAR_POISSON and VAR_RNOISE
    (ERR their quadratic sum), DQ from PIXELDQ and the group flags; the output is an ImagerModel in DN/s with
    GAIN. Integrations with one good group give no rate (``suppress_one_group``, jwst's default)."""

    class_alias = "ramp_fit"
    spec = """
    suffix = string(default='raw')  # The count-rate frame (L1 raw frame)
    suppress_one_group = boolean(default=True)  # An integration with one good group gives no rate (as jwst)
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
        fit = fit_ramps(
            ramp.data, ramp.groupdq, ramp.pixeldq, gain, readnoise, exposure.nframes, exposure.frame_time,
            exposure.group_time, self.suppress_one_group,
        )
        frame = ImagerModel(
            data=fit.rate, err=fit.err, dq=fit.dq, var_poisson=fit.var_poisson, var_rnoise=fit.var_rnoise,
            var_flat=np.zeros_like(fit.rate),
        )
        frame.update(ramp)
        frame.meta.bunit_data = frame.meta.bunit_err = units.RATE
        frame.meta.exposure.gain = float(np.nanmedian(gain))
        frame.meta.filename = ramp.meta.filename
        ramp.close()
        self.record(frame, "COMPLETE")
        return frame
