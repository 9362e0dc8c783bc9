"""CombineFlatsStep: combine normalised flat exposures into a FlatModel reference."""

from .. import units
from ..base_step import StepInputError
from ..datamodels import FlatModel
from ..reference_product import ReferenceProductStep, member_arrays
from .combine_flats import combine_flats

__all__ = ["CombineFlatsStep"]


class CombineFlatsStep(ReferenceProductStep):
    """Sigma-clipped combination of normalised (dark-subtracted) flat exposures into a flat of mean 1.

    ERR from the scatter of the exposures; NO_FLAT_FIELD where the response is below ``low_response``,
    UNRELIABLE_FLAT where the exposures scatter more than ``unreliable_ratio`` times their noise. The
    product is a valid ``flat`` reference (FILTER of the exposures, USEAFTER the first exposure's start).
    """

    class_alias = "combine_flats"
    shared_meta = ReferenceProductStep.shared_meta + ("instrument.filter",)
    input_units = (units.DIMENSIONLESS,)  # normalised exposures
    spec = """
    suffix = string(default='masterflat')  # Combined flat (a flat reference)
    method = option('median', 'mean', default='median')  # Per-pixel combination of the exposures
    sigma = float(default=5.0)  # Reject an exposure's pixel further than sigma x its ERR from the median
    maxiters = integer(default=5)  # Rejection iterations
    low_response = float(default=0.1)  # Below this relative response a pixel gets NO_FLAT_FIELD
    unreliable_ratio = float(default=5.0)  # Scatter / expected noise above which a pixel is UNRELIABLE_FLAT
    """

    def process(self, frames):
        members = self.open_members(frames)
        for model in members:
            if model.meta.cal_step.normalize != "COMPLETE":
                raise StepInputError(f"{model.meta.filename}: not normalised (run normalize first)")
        try:
            flat, err, dq = combine_flats(
                *member_arrays(members),
                self.method,
                self.sigma,
                self.maxiters,
                self.low_response,
                self.unreliable_ratio,
            )
        except ValueError as error:
            raise StepInputError(f"{members[0].meta.filename}: {error}") from error
        product = FlatModel(data=flat, err=err, dq=dq)
        product.meta.bunit_data = product.meta.bunit_err = units.DIMENSIONLESS
        kinds = sorted({str(model.meta.exposure.type).lower() for model in members})
        self.describe_product(product, members, f"Flat: {self.method} of {len(members)} {'/'.join(kinds)} exposures")
        product.meta.instrument.filter = members[0].meta.instrument.filter
        self.record(product, "COMPLETE")
        return product
