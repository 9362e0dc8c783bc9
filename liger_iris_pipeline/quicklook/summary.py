"""The night summary (every frame's QA row in one table, and plots of the numbers against time) and the table
of the workflow's per-job benchmarks, for the Snakemake report.

Frames whose product skipped a calibration step (QA columns ``skipped_steps``, ``skip_reasons``) stand out: their
rows are highlighted in the HTML table, under a line that counts them, and circled in red in every plot.
"""

import html
from collections import Counter
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from astropy.time import Time
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import replacing
from .frame import SEPARATOR

#: QA columns plotted against time: (column, axis label).
PLOTTED = (
    ("sky_level", "sky level [BUNIT]"),
    ("sky_noise", "sky noise [BUNIT]"),
    ("flagged_fraction", "flagged pixels [fraction]"),
    ("n_stars", "stars detected"),
    ("fwhm_arcsec", "median FWHM [arcsec]"),
    ("wcs_offset_mas", "WCS offset to catalogue [mas]"),
)
#: QA columns that say which steps a frame's product skipped, and why ("" when none).
SKIP_COLUMNS = ("skipped_steps", "skip_reasons")
#: Style of the HTML summary: rows of frames with skipped steps highlighted.
HTML_STYLE = """
table { border-collapse: collapse; font-family: sans-serif; font-size: 90%; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
td.text { text-align: left; }
tr.skipped td { background: #ffe08a; }
p.skipped { background: #ffe08a; padding: 4px; font-family: sans-serif; }
"""
SKIPPED_ROW = ' class="skipped"'
#: Benchmark columns (snakemake's benchmark TSV) summarised per rule.
BENCHMARK_COLUMNS = ("s", "max_rss", "cpu_time")


def night_summary(qa_paths, csv_path, plot_path, html_path):
    """Gather the QA rows (ECSV) of a night into ``csv_path`` and ``html_path`` (sorted by time) and plot each
    number against time into ``plot_path`` (PNG). Every file is written atomically. Returns the table."""
    table = vstack([Table.read(path, format="ascii.ecsv") for path in qa_paths], metadata_conflicts="silent")
    for column in SKIP_COLUMNS:
        if column not in table.colnames:  # rows written before the column was
            table[column] = ""
        elif hasattr(table[column], "filled"):  # an empty string reads back from ECSV as a masked value
            table[column] = table[column].filled("")
    table = one_row_per_exposure(table)
    table.sort("mjd")
    _write_table(table, csv_path, "ascii.csv", formats=_rounded(table))
    with replacing(html_path) as temporary:
        temporary.write_text(summary_html(table))
    figure = plot_against_time(table)
    with replacing(plot_path) as temporary:
        figure.savefig(temporary, format="png")
    return table


def has_skipped_steps(table):
    """Boolean array: which rows of the night summary ``table`` skipped a step."""
    return np.array([bool(steps) for steps in table["skipped_steps"]], bool)


def skipped_counts(table):
    """{step: number of frames that skipped it} of the night summary ``table``."""
    return Counter(step for steps in table["skipped_steps"] if steps for step in steps.split(SEPARATOR))


def skipped_description(table):
    """"<n> of <frames> frames skipped calibration steps (<step> in <n>, ...)", or None when none did."""
    counts = skipped_counts(table)
    if not counts:
        return None
    steps = ", ".join(f"{step} in {count}" for step, count in sorted(counts.items()))
    return f"{has_skipped_steps(table).sum()} of {len(table)} frames skipped calibration steps ({steps})"


def skipped_summary(table, html_path):
    """One line for the terminal on the frames of ``table`` that skipped steps, or None when none did."""
    description = skipped_description(table)
    return f"warning: {description}: see {html_path}" if description else None


def summary_html(table):
    """The night summary ``table`` as an HTML page, frames with skipped steps highlighted under a line that
    counts them."""
    rows = []
    for row, highlighted in zip(table, has_skipped_steps(table)):
        cells = "".join(_html_cell(row[name]) for name in table.colnames)
        rows.append(f"<tr{SKIPPED_ROW if highlighted else ''}>{cells}</tr>")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in table.colnames)
    description = skipped_description(table)
    note = ""
    if description:
        note = (
            f'<p class="skipped">{html.escape(description)}: their rows are highlighted, and skip_reasons says '
            "why.</p>\n"
        )
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<style>{HTML_STYLE}</style>\n</head>\n<body>\n"
        f"{note}<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        "</body>\n</html>\n"
    )


def _html_cell(value):
    if isinstance(value, (float, np.floating)):
        return f"<td>{value:.6g}</td>"
    if isinstance(value, (int, np.integer)):
        return f"<td>{value}</td>"
    return f'<td class="text">{html.escape(str(value))}</td>'


def _write_table(table, path, format_name, formats=None):
    with replacing(path) as temporary:
        table.write(temporary, format=format_name, formats=formats or {})


def one_row_per_exposure(table):
    """The night summary's rows, one per exposure: the rows of one readout (same instrument, exposure number and
    start time: the full frame, its subarray windows and their ``_merged`` product) become the merged row where
    there is one, else the full frame's, with ``subarrays`` naming the exposure's windows ("" for none). Rows
    without an exposure number or time (mosaics) stay as they are."""
    if "subarray" not in table.colnames:  # rows written before the column was
        table["subarray"] = "FULL"
    kept, windows = [], []
    groups = {}
    identified = {"exposure", "mjd"} <= set(table.colnames)
    for index, row in enumerate(table):
        known = identified and not (np.ma.is_masked(row["exposure"]) or np.ma.is_masked(row["mjd"]))
        key = (row["instrument"], row["exposure"], row["mjd"]) if known else ("row", index)
        groups.setdefault(key, []).append(index)
    for indices in groups.values():
        rows = table[indices]
        rank = [0 if str(name).endswith("_merged.fits") else 1 if str(sub) == "FULL" else 2
                for name, sub in zip(rows["frame"], rows["subarray"])]
        kept.append(indices[int(np.argmin(rank))])
        windows.append(SEPARATOR.join(sorted({str(sub) for sub in rows["subarray"] if str(sub) != "FULL"})))
    result = table[kept]
    result["subarrays"] = windows
    return result


#: Significant digits of the night summary's numbers (its times to 0.1 s: MJD to 1e-6 day).
SIGNIFICANT_DIGITS = 6


def _rounded(table):
    """Formats of ``table``'s float columns for the CSV: ``SIGNIFICANT_DIGITS`` significant digits, MJD to 1e-6."""
    return {
        name: ("%.6f" if name == "mjd" else f"%.{SIGNIFICANT_DIGITS}g")
        for name in table.colnames
        if table[name].dtype.kind == "f"
    }


def plot_against_time(table):
    """A figure of one panel per QA number against UTC time, a marker per instrument; the frames that skipped
    steps circled in red (the line labelled "steps skipped" of each panel)."""
    times = Time(table["mjd"], format="mjd").to_datetime()
    figure = Figure(figsize=(11, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(2, 3, sharex=True).ravel()
    instruments = sorted(set(table["instrument"]))
    skipped = has_skipped_steps(table)
    for axes, (column, label) in zip(panels, PLOTTED):
        for marker, instrument in zip("os^", instruments):
            rows = np.asarray(table["instrument"]) == instrument
            values = np.asarray(table[column], float)[rows]
            axes.plot(np.asarray(times)[rows], values, marker=marker, linestyle="none", label=instrument)
        if skipped.any():
            axes.plot(
                np.asarray(times)[skipped], np.asarray(table[column], float)[skipped], marker="o", markersize=12,
                markerfacecolor="none", markeredgecolor="red", linestyle="none", label="steps skipped",
            )
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    for axes in panels[3:]:
        axes.set_xlabel("UTC")
        axes.tick_params(axis="x", labelrotation=30)
    panels[0].legend()
    title = f"Night summary: {len(table)} frames"
    if skipped.any():
        title += f", {skipped.sum()} with calibration steps skipped (circled)"
    figure.suptitle(title)
    return figure


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
