"""The night summary (every frame's QA row in one table, and plots of the numbers against time) and the table
of the workflow's per-job benchmarks, for the Snakemake report."""

from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from astropy.time import Time
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import replacing

#: QA columns plotted against time: (column, axis label).
PLOTTED = (
    ("sky_level", "sky level [BUNIT]"),
    ("sky_noise", "sky noise [BUNIT]"),
    ("flagged_fraction", "flagged pixels [fraction]"),
    ("n_stars", "stars detected"),
    ("fwhm_arcsec", "median FWHM [arcsec]"),
    ("wcs_offset_mas", "WCS offset to catalogue [mas]"),
)
#: Benchmark columns (snakemake's benchmark TSV) summarised per rule.
BENCHMARK_COLUMNS = ("s", "max_rss", "cpu_time")


def night_summary(qa_paths, csv_path, plot_path, html_path):
    """Gather the QA rows (ECSV) of a night into ``csv_path`` and ``html_path`` (sorted by time) and plot each
    number against time into ``plot_path`` (PNG). Every file is written atomically. Returns the table."""
    table = vstack([Table.read(path, format="ascii.ecsv") for path in qa_paths], metadata_conflicts="silent")
    table.sort("mjd")
    _write_table(table, csv_path, "ascii.csv")
    _write_table(table, html_path, "ascii.html")
    _plot_against_time(table, plot_path)
    return table


def _write_table(table, path, format_name):
    with replacing(path) as temporary:
        table.write(temporary, format=format_name)


def _plot_against_time(table, path):
    """One panel per QA number against UTC time, a marker per instrument."""
    times = Time(table["mjd"], format="mjd").to_datetime()
    figure = Figure(figsize=(11, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(2, 3, sharex=True).ravel()
    instruments = sorted(set(table["instrument"]))
    for axes, (column, label) in zip(panels, PLOTTED):
        for marker, instrument in zip("os^", instruments):
            rows = np.asarray(table["instrument"]) == instrument
            values = np.asarray(table[column], float)[rows]
            axes.plot(np.asarray(times)[rows], values, marker=marker, linestyle="none", label=instrument)
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    for axes in panels[3:]:
        axes.set_xlabel("UTC")
        axes.tick_params(axis="x", labelrotation=30)
    panels[0].legend()
    figure.suptitle(f"Night summary: {len(table)} frames")
    with replacing(path) as temporary:
        figure.savefig(temporary, format="png")


def benchmark_summary(tsv_paths, root, html_path):
    """Tabulate snakemake benchmark files under ``root`` (``<root>/<rule>/...tsv`` or ``<root>/<rule>.tsv``):
    per rule the number of jobs, total, median and largest wall time [s], largest peak RSS [MB] and total CPU
    time [s], as an HTML table written atomically. Returns the table."""
    jobs = {}
    for path in tsv_paths:
        rule = Path(path).relative_to(root).parts[0].removesuffix(".tsv")
        benchmark = Table.read(path, format="ascii.tab")
        jobs.setdefault(rule, []).append([_number(benchmark[column][0]) for column in BENCHMARK_COLUMNS])
    rows = []
    for rule, values in sorted(jobs.items()):
        wall, rss, cpu = np.array(values).T
        largest_rss = np.nan if np.isnan(rss).all() else np.nanmax(rss)
        rows.append((rule, len(values), wall.sum(), np.median(wall), wall.max(), largest_rss, np.nansum(cpu)))
    names = ("rule", "jobs", "total_wall_s", "median_wall_s", "max_wall_s", "max_rss_mb", "total_cpu_s")
    table = Table(rows=rows, names=names) if rows else Table(names=names)
    for name in names[2:]:
        table[name].info.format = ".2f"
    _write_table(table, html_path, "ascii.html")
    return table


def _number(value):
    """A benchmark value as a float; snakemake writes "-" where it could not measure."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
