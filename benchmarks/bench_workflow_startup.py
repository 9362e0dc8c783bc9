"""Start-up of ``snakemake -n``: the demo's night and a 2,000-frame night, before and after issue 16.

Measured side by side in one run, alternating, ``--repeat`` times, so that other work on the machine weighs on
every revision alike: the wall and CPU seconds (user + system, of snakemake and its children: less sensitive to
that other work) of ``snakemake -n`` and ``snakemake -n --quiet`` for each revision of ``--revisions`` (default
1909ff5, the workflow before issue 16's restructuring), checked out into a temporary git worktree and run with
its own package first on PYTHONPATH, and for the working tree, on
- the demo's night (the commands of the Makefile's ``demo`` target, frames of ``--size`` pixels a side: the
  start-up reads headers, not pixels), fresh (nothing reduced yet) and complete (after a full run: nothing to
  be done);
- the 2,000-frame night of ``bench_workflow_scale.py``'s dry run (placeholder frames, a current selection
  table), per-step rules and the fused chain in batches of 10 frames;
and, for a workflow that checks the steps' parameters and remembers the check (.snakemake/liger_iris/), its
first dry run too, with the check not yet remembered. And what a plan imports: ``python -X importtime`` of
``snakemake -n`` on the fresh demo, seconds by top-level package (import time's own overhead included), and
whether crds, stpipe or stdatamodels get imported at all.

    python benchmarks/bench_workflow_startup.py [--revisions 1909ff5] [--repeat 5] [--size 512]
        [--dry-run-frames 2000] [--no-complete] [--output-dir benchmarks/results]

Writes ``workflow_startup.md`` and ``workflow_startup.json``.
"""

import argparse
import glob
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import bench_workflow_scale as scale
from bench_imager_l2 import write_results

#: Where a workflow that checks the steps' parameters remembers the check (rules/common.smk's STATE_DIR).
CHECK_STATE = ".snakemake/liger_iris"
#: The module of that check: a revision has it or not.
CHECK_MODULE = "liger_iris_pipeline/workflow/step_parameters.py"
#: Packages whose import a plan should not need: the steps' stack (the parameter check aside) and crds.
HEAVY = ("crds", "stpipe", "stdatamodels")
DEMO_NIGHTS = ("demo, fresh", "demo, complete")
FIRST_RUN = "-n, parameter check not remembered"
#: The commands measured on the demo: {name in the tables: snakemake's arguments}.
COMMANDS = {FIRST_RUN: ("-n",), "-n": ("-n",), "-n --quiet": ("-n", "--quiet")}


@dataclass(frozen=True)
class Revision:
    """A checkout of the project: its name in the tables, its commit and its directory."""

    name: str
    commit: str
    repository: Path

    @property
    def checks_parameters(self):
        return (self.repository / CHECK_MODULE).is_file()


@dataclass
class Case:
    """One command on one night of one revision, and its measured runs."""

    night: str
    command: str
    revision: Revision
    workdir: Path
    run: object  # () -> number of jobs the plan lists (None when it does not say)
    wall_s: list = field(default_factory=list)
    cpu_s: list = field(default_factory=list)
    jobs: int = None

    def measure(self):
        """Run once: wall and CPU seconds recorded; a first run's remembered parameter check removed first."""
        if self.command == FIRST_RUN:
            shutil.rmtree(self.workdir / CHECK_STATE, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        jobs = self.run()
        self.wall_s.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        self.jobs = jobs if jobs is not None else self.jobs

    def row(self):
        return {
            "night": self.night,
            "command": self.command,
            "revision": self.revision.name,
            "jobs": self.jobs,
            "wall_s": statistics.median(self.wall_s),
            "cpu_s": statistics.median(self.cpu_s),
            "wall_runs_s": self.wall_s,
            "cpu_runs_s": self.cpu_s,
        }


def git(*args):
    command = ["git", "-C", str(scale.REPOSITORY), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def checkout(revision, directory, stack):
    """The revision checked out (detached) into a git worktree at ``directory``, removed when ``stack`` closes."""
    git("worktree", "add", "--detach", str(directory), revision)
    stack.callback(git, "worktree", "remove", "--force", str(directory))
    return Revision(revision, git("rev-parse", "--short", revision).strip(), directory)


def working_tree():
    changed = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no").strip() else ""
    return Revision("working tree", git("rev-parse", "--short", "HEAD").strip() + changed, scale.REPOSITORY)


def console_script(name):
    return str(Path(sys.executable).parent / name)


def simulate_demo(directory, size):
    """The demo's night as the Makefile's ``demo`` target makes it, with frames of ``size`` pixels a side (the IRIS
    GUIDE window scaled with them): raw frames in ``directory/raw``, references in the store ``directory/store``."""
    raw = directory / "raw"
    corner, width = 1 + 7 * size // 16, size // 8  # the demo's window 1793,1793,512,512 of 4096

    def run(*command):
        subprocess.run([console_script(command[0]), *map(str, command[1:])], check=True, capture_output=True)

    simulate = ("liger-iris-simulate", "--size", size, "--n-exposures", 2)
    window = f"GUIDE,{corner},{corner},{width},{width}"
    run(*simulate, "--instrument", "IRIS", "--seed", 1, "--observation", "001", "--subarray", window,
        "--output-dir", raw / "iris")  # fmt: skip
    run(*simulate, "--instrument", "LIGER", "--seed", 2, "--observation", "002", "--ra", 210.8, "--dec", 54.35,
        "--n-sky", 1, "--sky-stars", 0, "--n-darks", 3, "--n-flats", 3, "--output-dir", raw / "liger")  # fmt: skip
    run("liger-iris-asn", *matching(f"{raw}/liger/*_SCI_LVL1_????.fits", f"{raw}/liger/*_SKY_LVL1_????.fits"))
    references = matching(f"{raw}/iris/IRIS_IMG1_*_1.fits", f"{raw}/liger/Liger_IMG_*_1.fits")
    run("crds_add_references", "--store", directory / "store", "--description", "simulated demo references",
        *references)  # fmt: skip


def matching(*patterns):
    """The files of each glob pattern in turn, each pattern's sorted (as a shell expands them)."""
    return [path for pattern in patterns for path in sorted(glob.glob(pattern))]


def demo_config(revision):
    """The revision's demo config: .test/config/config.yaml since issue 16, config/config.yaml before."""
    test_config = revision.repository / ".test" / "config" / "config.yaml"
    return test_config if test_config.is_file() else revision.repository / "config" / "config.yaml"


def demo_night(workdir, data, revision):
    """A workflow copy of ``revision`` in ``workdir`` with its demo config as config/config.yaml, the demo's raw
    frames (linked from ``data``) and its own copy of the reference store (a complete run adds to it)."""
    scale.workflow_copy(workdir, yaml.safe_load(demo_config(revision).read_text()), revision.repository)
    (workdir / "demo_output").mkdir()
    (workdir / "demo_output" / "raw").symlink_to(data / "raw")
    shutil.copytree(data / "store", workdir / "demo_output" / "store")


def listed_jobs(output):
    """The number of jobs a dry run lists (0 for "Nothing to be done"), or None when it does not say."""
    if "Job stats:" in output:
        return scale.job_stats(output)["total"]
    return 0 if "Nothing to be done" in output else None


def demo_cases(night, revision, workdir):
    def dry_run(args):
        def run():
            _, completed = scale.snakemake(workdir, *args, repository=revision.repository)
            return listed_jobs(completed.stdout)

        return run

    return [
        Case(night, command, revision, workdir, dry_run(args))
        for command, args in COMMANDS.items()
        if command != FIRST_RUN or revision.checks_parameters
    ]


def large_night_cases(n_frames, revision, workdir):
    """The dry runs of the 2,000-frame night; those that list their jobs are checked to plan the default target."""

    def dry_run(*args, quiet=False):
        def run():
            if quiet:
                scale.snakemake(workdir, "-n", "--quiet", *args, repository=revision.repository)
                return None
            return scale.planned_jobs(workdir, n_frames, *args, repository=revision.repository)[1]["total"]

        return run

    per_step, batched = f"{n_frames} frames, per-step rules", f"{n_frames} frames, fused in batches"
    cases = [
        Case(per_step, "-n", revision, workdir, dry_run()),
        Case(per_step, "-n --quiet", revision, workdir, dry_run(quiet=True)),
        Case(batched, "-n", revision, workdir, dry_run(*scale.BATCHED)),
    ]
    if revision.checks_parameters:
        cases.insert(0, Case(per_step, FIRST_RUN, revision, workdir, dry_run()))
    return cases


def alternate(cases, repeat):
    """Each case ``repeat`` times, in turns: every command on every revision once a round. A warm-up run of
    each work directory first (its files into the page cache, Python's bytecode compiled)."""
    for workdir, revision in {(case.workdir, case.revision) for case in cases}:
        scale.snakemake(workdir, "-n", "--quiet", repository=revision.repository)
    for round_number in range(repeat):
        for case in cases:
            case.measure()
        print(f"round {round_number + 1} of {repeat}: {cases[0].night}", flush=True)
    return [case.row() for case in cases]


def imported(revision, workdir, first_run):
    """({top-level package: seconds of import}, number of modules) of ``snakemake -n --quiet`` in ``workdir``, from
    ``python -X importtime``; with ``first_run``, the parameter check not remembered."""
    if first_run:
        shutil.rmtree(workdir / CHECK_STATE, ignore_errors=True)
    _, completed = scale.snakemake(
        workdir, "-n", "--quiet", repository=revision.repository, prefix=(sys.executable, "-X", "importtime")
    )
    seconds, modules = {}, 0
    for line in completed.stderr.splitlines():
        if line.startswith("import time:") and not line.endswith("imported package"):
            own, _, module = line.removeprefix("import time:").split("|")
            package = module.strip().split(".")[0]
            seconds[package] = seconds.get(package, 0.0) + int(own) / 1e6
            modules += 1
    return seconds, modules


def import_costs(entries, repeat):
    """What the plans of ``entries`` ((revision, work directory, first run)) import, measured in turns ``repeat``
    times: medians of the seconds by top-level package and of their sum, the number of modules, and which of
    HEAVY are among them."""
    runs = {entry: [] for entry in entries}
    for _ in range(repeat):
        for entry in entries:
            runs[entry].append(imported(*entry))
    costs = []
    for (revision, _, first_run), samples in runs.items():
        packages = {package for seconds, _ in samples for package in seconds}
        by_package = {
            package: statistics.median(seconds.get(package, 0.0) for seconds, _ in samples) for package in packages
        }
        costs.append(
            {
                "revision": revision.name,
                "first_run": first_run,
                "total_s": statistics.median(sum(seconds.values()) for seconds, _ in samples),
                "modules": samples[-1][1],
                "by_package_s": dict(sorted(by_package.items(), key=lambda item: -item[1])),
                "imports_heavy": [package for package in HEAVY if package in packages],
            }
        )
    return costs


def measure(scratch, revisions, args, result, save):
    """Every measurement of the run, in the order of the module's docstring, into ``result`` (its ``rows``,
    ``imports`` and ``complete_run_s``), which ``save`` writes after each part."""
    data = scratch / "demo_data"
    simulate_demo(data, args.size)
    demos, large = {}, {}
    for number, revision in enumerate(revisions):
        demos[revision] = scratch / f"demo_{number}"
        demo_night(demos[revision], data, revision)
        if args.dry_run_frames:
            large[revision] = scratch / f"large_{number}"
            scale.dry_run_night(large[revision], args.dry_run_frames, revision.repository)
    rows = result["rows"]
    rows += alternate([case for r in revisions for case in demo_cases("demo, fresh", r, demos[r])], args.repeat)
    result["imports"] = import_costs(
        [
            (revision, demos[revision], first_run)
            for revision in revisions
            for first_run in ((True, False) if revision.checks_parameters else (False,))
        ],
        args.repeat,
    )
    save()
    if args.dry_run_frames:
        cases = [case for r in revisions for case in large_night_cases(args.dry_run_frames, r, large[r])]
        rows += alternate(cases, args.repeat)
        save()
    if args.complete:
        for revision in revisions:
            seconds, _ = scale.snakemake(demos[revision], repository=revision.repository)
            result["complete_run_s"][revision.name] = seconds
        rows += alternate([case for r in revisions for case in demo_cases("demo, complete", r, demos[r])], args.repeat)
        save()


def cell(row):
    return f"{row['wall_s']:.2f} ({row['cpu_s']:.2f})" if row else "-"


def markdown(result):
    info, revisions = result["machine"], result["revisions"]
    names = [revision["name"] for revision in revisions]
    baseline, last = names[0], names[-1]
    rows = {(row["night"], row["command"], row["revision"]): row for row in result["rows"]}
    lines = [
        f"Start-up of `snakemake -n`, {info['date']}, {info['cpus']} cores, {info['memory_gib']} GiB, "
        f"Python {info['python']}, snakemake {info['snakemake']}; load average {info['load_average']} at the start; "
        f"medians of {result['repeat']} runs, alternating between revisions; wall seconds and, in parentheses, CPU "
        "seconds (user + system of snakemake and its children: less sensitive to other work on the machine). "
        f"Demo frames of {result['size']} pixels a side. `{FIRST_RUN}`: the first dry run of a workflow that "
        "checks the steps' parameters (importing stpipe and the steps) and remembers the check. Revisions: "
        + ", ".join(
            revision["name"] if revision["name"] == revision["commit"] else f"{revision['name']} ({revision['commit']})"
            for revision in revisions
        )
        + ".",
        "",
        f"| night | command | jobs listed | {' | '.join(names)} | {last} / {baseline}: wall, CPU |",
        f"|---|---|---:|{'---:|' * len(names)}---:|",
    ]
    nights = dict.fromkeys(row["night"] for row in result["rows"])
    for night, command in ((night, command) for night in nights for command in COMMANDS):
        cells = [rows.get((night, command, name)) for name in names]
        if not any(cells):
            continue
        # A revision without the parameter check has no first run of its own: compare with its plain -n.
        reference = rows.get((night, command, baseline)) or rows.get((night, "-n", baseline))
        ratio = (
            f"{cells[-1]['wall_s'] / reference['wall_s']:.2f}, {cells[-1]['cpu_s'] / reference['cpu_s']:.2f}"
            if cells[-1] and reference
            else "-"
        )
        jobs = next((row["jobs"] for row in cells if row and row["jobs"] is not None), "-")
        lines.append(f"| {night} | `{command}` | {jobs} | {' | '.join(map(cell, cells))} | {ratio} |")
    if result["complete_run_s"]:
        lines += [
            "",
            "The complete runs of the demo (once each, before the `demo, complete` rows): "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result["complete_run_s"].items())
            + ".",
        ]
    if result["imports"]:
        lines += import_lines(result["imports"])
    return "\n".join(lines) + "\n"


def import_lines(imports):
    """The table of what the plans import."""
    labels = [f"{entry['revision']}{', check not remembered' if entry['first_run'] else ''}" for entry in imports]
    packages = list(dict.fromkeys(package for entry in imports for package in list(entry["by_package_s"])[:8]))

    def row(name, values):
        return f"| {name} | {' | '.join(values)} |"

    return [
        "",
        "Imports of `snakemake -n --quiet` on the fresh demo (`python -X importtime`, its own overhead included; "
        "medians): seconds by top-level package, the eight costliest of each column.",
        "",
        row("", labels),
        f"|---|{'---:|' * len(imports)}",
        row("modules imported", [str(entry["modules"]) for entry in imports]),
        row("all [s]", [f"{entry['total_s']:.2f}" for entry in imports]),
        *(row(package, [f"{entry['by_package_s'].get(package, 0.0):.2f}" for entry in imports]) for package in packages),
        row(f"of {', '.join(HEAVY)}", [", ".join(entry["imports_heavy"]) or "none" for entry in imports]),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--revisions", default="1909ff5", help="git revisions to compare with the working tree, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (median reported)")
    parser.add_argument("--size", type=int, default=512, help="pixels a side of the demo's frames (default 512)")
    parser.add_argument(
        "--dry-run-frames", type=int, default=2000, help="frames of the large night's dry runs (0: none)"
    )
    parser.add_argument(
        "--no-complete",
        dest="complete",
        action="store_false",
        help="skip the complete runs of the demo (minutes each) and the dry runs after them",
    )
    parser.add_argument("--output-dir", type=Path, default=scale.BENCHMARKS / "results")
    args = parser.parse_args()

    result = {"repeat": args.repeat, "size": args.size, "machine": scale.machine()}
    result.update(rows=[], imports=[], complete_run_s={})

    def save():
        """Write the results so far: an interrupted run still leaves what it measured."""
        write_results(args.output_dir, "workflow_startup", result, markdown(result))
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_workflow_startup_")))
        names = [name for name in args.revisions.split(",") if name]
        revisions = [checkout(name, scratch / f"checkout_{number}", stack) for number, name in enumerate(names)]
        revisions.append(working_tree())
        result["revisions"] = [{"name": revision.name, "commit": revision.commit} for revision in revisions]
        measure(scratch, revisions, args, result, save)


if __name__ == "__main__":
    main()
