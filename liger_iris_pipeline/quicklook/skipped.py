"""Which calibration steps a product skipped, and why, read from its own record of them.

Every step sets its status keyword (S_<step>, ``meta.cal_step``) to COMPLETE or SKIPPED, and the references it
asked for (R_<reftype>, ``meta.ref_file``; N/A when none applies). A step is SKIPPED because:

- a reference it needs does not apply to the frame (R_<reftype> = N/A: CRDS selects none, or an override N/A);
- the frame's background exposures were subtracted (S_BKDSUB COMPLETE), which removes the dark current too,
  so dark_current does not subtract it again;
- it had no input of its kind: no background exposures (background), no subarray map (parse_subarray_map);
- else, its ``skip`` parameter was set (stpipe records SKIPPED and no reference).

A status may also say whether a step applied one reference (``REFERENCE_STATUSES``): S_DISTOR is SKIPPED when
assign_wcs found no distortion reference and wrote a TAN WCS without the geometric distortion.
"""

from ..registry import BY_ALIAS

#: Statuses of a reference a step applies rather than of a step: the reference types whose N/A skips them.
REFERENCE_STATUSES = {"distortion": ("distortion",)}
#: Steps SKIPPED when their frame lacks an input of theirs: the reason.
WITHOUT_INPUT = {
    "background": "no background exposures",
    "parse_subarray_map": "no subarray map (SUBARR_MAP)",
}


def skipped_steps(meta):
    """[(step, reason)] of the steps that the product's ``meta`` records as SKIPPED, in the order it lists them."""
    statuses = meta.cal_step.instance
    return [(step, skip_reason(meta, step, statuses)) for step, status in statuses.items() if status == "SKIPPED"]


def skip_reason(meta, step, statuses):
    """Why ``step`` was SKIPPED, from the product's status and reference keywords (``statuses``: every step's)."""
    entry = BY_ALIAS.get(step)
    reftypes = entry.reftypes if entry else REFERENCE_STATUSES.get(step, ())
    not_applicable = [reftype for reftype in reftypes if reference_name(meta, reftype) == "N/A"]
    if not_applicable:
        context = meta.ref_file.crds.context_used
        under = f" under {context}" if context else ""
        return f"no {' or '.join(not_applicable)} reference applies (N/A{under})"
    if step == "dark_current" and statuses.get("background") == "COMPLETE":
        return "background exposures subtracted, and with them the dark current"
    return WITHOUT_INPUT.get(step, "skip parameter set")


def reference_name(meta, reftype):
    """The name of the ``reftype`` reference the product's ``meta`` records (R_<reftype>), or None."""
    return meta.ref_file.instance.get(reftype, {}).get("name")
