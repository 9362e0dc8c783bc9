"""The steps that references which do not apply (N/A) will skip, said on the terminal when the night's references
are selected.

CRDS answers N/A for a reference type that does not apply to a frame (its rules select none for it): the step
that needs it is then SKIPPED, which the product records (S_<step> = SKIPPED, R_<reftype> = N/A) and the QA row
and night summary show. The selection job says so too, before any frame is reduced, in one line per
observation and reference type (a night of 2,000 frames gives a few lines, not 2,000)::

    warning: iris_field: no flat reference applies (N/A under ligeriri_0003.pmap) to 12 of 12 frames: flat_field skipped

Only the reference types that the frame's reduction asks for count: a raw frame's reduction never asks for the
gain, so a gain N/A is said only for ramps.
"""

from collections import Counter

from ..registry import BY_ALIAS, STEPS

#: Steps that stop with an error rather than skip when a reference of theirs is N/A (ramp_fit: a count rate
#: cannot be fitted without the gain and the read noise).
STOPS_WITHOUT_REFERENCE = ("ramp_fit",)
#: What a reference type's N/A does where the step that needs it goes on without it.
GOES_ON_WITHOUT_REFERENCE = {"distortion": "assign_wcs writes a TAN WCS without distortion"}
#: The pipelines that reduce a raw frame, and a ramp (whose detector1 makes the raw frame).
FRAME_PIPELINES = ("process_imager_l2",)
RAMP_PIPELINES = ("detector1", "process_imager_l2")


def frame_uses(night):
    """{source file: [observation, [reference types its reduction asks CRDS for]]} of every exposure of
    ``night`` (a workflow.plan.Night), its source file being the one references are selected for."""
    uses = {}
    for observation, exposures in night.frames.items():
        for exposure in exposures:
            ramp = exposure in night.ramps.get(observation, {})
            pipelines = RAMP_PIPELINES if ramp else FRAME_PIPELINES
            reftypes = list(dict.fromkeys(reftype for name in pipelines for reftype in BY_ALIAS[name].reftypes))
            uses[night.source_file(observation, exposure)] = [observation, reftypes]
    return uses


def steps_needing(reftype):
    """The steps (not pipelines) that ``reftype`` references serve."""
    return [entry.alias for entry in STEPS if not entry.is_pipeline and reftype in entry.reftypes]


def outcome(reftype):
    """What a ``reftype`` N/A does to the steps that need it: "flat_field skipped", "jump skipped, ramp_fit
    fails", "assign_wcs writes a TAN WCS without distortion"."""
    if reftype in GOES_ON_WITHOUT_REFERENCE:
        return GOES_ON_WITHOUT_REFERENCE[reftype]
    steps = steps_needing(reftype)
    skipped = [step for step in steps if step not in STOPS_WITHOUT_REFERENCE]
    stopped = [step for step in steps if step in STOPS_WITHOUT_REFERENCE]
    parts = []
    if skipped:
        parts.append(f"{', '.join(skipped)} skipped")
    if stopped:
        parts.append(f"{', '.join(stopped)} fails")
    return ", ".join(parts)


def not_applicable_lines(bestrefs, context, uses):
    """One line per observation and reference type that is N/A for some of its frames under ``context``.

    ``bestrefs``: {source file: {reftype: name or "N/A"}} (the selection table's); ``uses``: ``frame_uses``."""
    frames = Counter(observation for observation, _ in uses.values())
    skipped = Counter(
        (observation, reftype)
        for source, (observation, reftypes) in uses.items()
        for reftype in reftypes
        if bestrefs.get(source, {}).get(reftype) == "N/A"
    )
    return [
        f"warning: {observation}: no {reftype} reference applies (N/A under {context}) to {count} of "
        f"{frames[observation]} frames: {outcome(reftype)}"
        for (observation, reftype), count in sorted(skipped.items())
    ]
