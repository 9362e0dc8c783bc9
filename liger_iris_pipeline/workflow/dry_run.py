"""What a dry run can promise when the reference selection must run first.

When ``crds_select`` (a checkpoint) must run again, Snakemake's dry run lists every job downstream of it,
since each may get new references; after the selection has run, only the jobs whose references (or
other inputs) changed run. The list is then an upper bound. Snakemake also leaves the jobs that wait for
the selection's table unchecked for changed parameters, code or set of inputs until the selection has run.
This module tells, from the planned DAG, which listed jobs are certain (a file they depend on is newer than
their products, or a product the targets ask for is missing) and which are decided only after the
selection, so that the dry run can say so.
"""

import os

#: Reasons that make a job run whatever the selection decides.
_OWN_REASONS = (
    "forced",
    "noio",
    "nooutput",
    "incomplete_output",
    "input_changed",
    "code_changed",
    "params_changed",
    "software_stack_changed",
)


def split_by_selection(dag, selection_rule):
    """(certain, depending) lists of the jobs the dry run lists, apart from the selection's own job; both empty
    when the selection need not run (the listed plan is then exact)."""
    planned = set(dag.needrun_jobs(exclude_finished=False))  # the dry run marks them finished
    if not any(job.rule.name == selection_rule for job in planned):
        return [], []
    jobs = {job for job in planned if job.rule.name != selection_rule}
    required = {str(path) for target in dag.targetjobs for path in target.input}
    certain = {job for job in jobs if _runs_anyway(dag, job, planned, required)}
    changed = True
    while changed:  # a job is certain if a certain job makes its input, or needs its missing output
        changed = False
        for job in jobs - certain:
            reason = dag.reason(job)
            made_by_certain = reason._updated_input_run and any(producer in certain for producer in dag.dependencies[job])
            needed_by_certain = reason._missing_output and any(consumer in certain for consumer in dag.depending[job])
            if made_by_certain or needed_by_certain:
                certain.add(job)
                changed = True
    return sorted(certain, key=str), sorted(jobs - certain, key=str)


def _runs_anyway(dag, job, planned, required):
    """The job would run whatever the selection decides: a reason of its own (_OWN_REASONS), a product the
    targets ask for missing, a product of its own (not temporary) missing, or a file it depends on, directly or through temporary intermediates that are gone,
    newer than its products. (A missing intermediate is made only when a job that needs it runs.)"""
    reason = dag.reason(job)
    if any(getattr(reason, name) for name in _OWN_REASONS):
        return True
    if reason._missing_output:
        return job in dag.targetjobs or any(str(path) in required for path in reason.missing_output)
    existing = [path for path in job.output if os.path.exists(path)]
    if any(path not in job.temp_output for path in set(job.output) - set(existing)):
        return True  # a product of its own is missing (a mosaic's new frame's _crf): it must be made
    if not existing:
        return False
    oldest_product = min(os.stat(path).st_mtime for path in existing)
    for source, upstream in _sources(dag, job, planned):
        if any(getattr(dag.reason(other), name) for other in upstream for name in _OWN_REASONS):
            return True
        if os.path.exists(source) and os.stat(source).st_mtime > oldest_product:
            return True
    return False


def _sources(dag, job, planned):
    """(file, planned jobs it passes through) of every file ``job`` depends on that no planned job makes: its
    inputs and, for an input that is an intermediate now gone (temporary, or not kept before), the inputs of the
    planned job that makes it, recursively. (A file a planned job remakes counts through that job:
    ``split_by_selection``.)"""
    pending, seen = [(job, ())], set()
    while pending:
        current, path = pending.pop()
        producers = {str(file): producer for producer, files in dag.dependencies[current].items() for file in files}
        for file in current.input:
            producer = producers.get(str(file))
            if producer not in planned:
                yield str(file), path
            elif not os.path.exists(file) and producer not in seen:
                seen.add(producer)
                pending.append((producer, (*path, producer)))


def summary(dag, selection_rule):
    """The lines a dry run prints after its plan, or [] when the plan is exact."""
    certain, depending = split_by_selection(dag, selection_rule)
    if not certain and not depending:
        return []
    return [
        f"The reference selection ({selection_rule}) must run first: of the jobs listed after it, {len(certain)} will "
        f"run for certain and {len(depending)} only if their references change, or their parameters, code or set "
        f"of inputs, which Snakemake checks once the selection has run (an upper bound).",
        f"For the exact plan: snakemake --until {selection_rule} --cores 1 (runs the selection), then snakemake -n.",
    ]
