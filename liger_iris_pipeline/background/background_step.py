"""BackgroundStep: subtract the background measured in separate sky exposures."""

import logging

from ..base_step import LigerIrisStep
from ..reference_product import member_arrays, member_variances
from ..subtract_images.subtract_images import subtract_images
from ..subtract_images.subtract_images_step import check_subtrahend
from ..variances import frame_variances
from .background_sub import combine_background

__all__ = ["BackgroundStep"]

log = logging.getLogger(__name__)


class BackgroundStep(LigerIrisStep):
    """Subtract the sigma-clipped median of the background members, scaled to the science exposure.

    From ``tmtrun`` or ``call``, a JSON association: each science member minus the background members of its
    product. From Python also ``BackgroundStep.call(frame, [sky1, sky2, ...])``. With no background members the
    step is SKIPPED.
    """

    class_alias = "background"
    uses_background = True
    spec = """
    suffix = string(default='bkgsub')  # Background-subtracted frame
    sigma = float(default=3.0)  # Reject a background pixel further than sigma x its ERR from the median
    maxiters = integer(default=5)  # Rejection iterations
    grow = integer(default=3)  # Also reject a member's pixels this close (x and y) to a rejected one
    """

    def process(self, input_data, backgrounds=None):
        model = self.open_input(input_data)
        if not backgrounds:
            log.info("%s: no background exposures; background skipped", model.meta.filename)
            self.record(model, "SKIPPED")
            return model
        members = [self.open_input(background) for background in backgrounds]  # in DN/s, as the frame
        for member in members:
            check_subtrahend(model, member)
        background, variances, dq = combine_background(
            *member_arrays(members),
            member_variances(members),
            self.sigma,
            self.maxiters,
            self.grow,
        )
        subtract_images(model.data, model.err, model.dq, frame_variances(model), background, variances, dq)
        model.add_history_entry(
            "background: minus the clipped median of " + ", ".join(str(member.meta.filename) for member in members)
        )
        self.record(model, "COMPLETE")
        return model
