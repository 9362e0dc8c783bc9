"""The default parameter files (.cfg) shipped with the package."""

from pathlib import Path

_PACKAGE = Path(__file__).parent
_CONFIGS = {
    "dq_init": _PACKAGE / "dq_init" / "dq_init.cfg",
    "dark_current": _PACKAGE / "dark_current" / "dark_current.cfg",
    "flat_field": _PACKAGE / "flat_field" / "flat_field.cfg",
    "assign_wcs": _PACKAGE / "assign_wcs" / "assign_wcs.cfg",
    "parse_subarray_map": _PACKAGE / "subarray" / "parse_subarray_map.cfg",
    "merge_subarrays": _PACKAGE / "subarray" / "merge_subarrays.cfg",
    "process_imager_l2": _PACKAGE / "pipeline" / "process_imager_l2.cfg",
    "master_dark": _PACKAGE / "master_dark" / "master_dark.cfg",
    "normalize": _PACKAGE / "normalize" / "normalize.cfg",
    "combine_flats": _PACKAGE / "combine_flats" / "combine_flats.cfg",
    "process_flatfield_l2": _PACKAGE / "pipeline" / "process_flatfield_l2.cfg",
    "subtract_images": _PACKAGE / "subtract_images" / "subtract_images.cfg",
    "background": _PACKAGE / "background" / "background.cfg",
    "saturation": _PACKAGE / "saturation" / "saturation.cfg",
    "nonlinearity": _PACKAGE / "nonlinearity" / "nonlinearity.cfg",
    "jump": _PACKAGE / "jump" / "jump.cfg",
    "ramp_fit": _PACKAGE / "ramp_fitting" / "ramp_fit.cfg",
    "detector1": _PACKAGE / "pipeline" / "detector1.cfg",
}


def default_config(alias):
    """Path (a string, as stpipe's config reader wants) of the shipped .cfg of the step or pipeline ``alias``."""
    try:
        return str(_CONFIGS[alias])
    except KeyError:
        raise KeyError(f"no shipped config for {alias!r}; known: {', '.join(_CONFIGS)}") from None
