"""Quick-looks and quality numbers of calibrated (L2b) frames, and the night summary that gathers them.

``quicklook_frame`` writes a frame's PNG and one-row QA table (with the steps its product skipped, and why:
``skipped_steps``), and the stars it detected as an ECSV table and a DS9 region file (``stars``);
``night_summary`` gathers the rows of a night into a CSV/HTML table and plots against time, frames with skipped
steps highlighted (``skipped_summary``: one line on them for the terminal); ``benchmark_summary`` tabulates the
workflow's benchmark files.
"""

from .display import north_east_directions, render_quicklook, scale_bar_arcsec
from .frame import quicklook_frame
from .qa import frame_qa, measure_frame
from .skipped import skipped_steps
from .summary import benchmark_summary, night_summary, skipped_summary

__all__ = [
    "benchmark_summary",
    "frame_qa",
    "measure_frame",
    "night_summary",
    "north_east_directions",
    "quicklook_frame",
    "render_quicklook",
    "scale_bar_arcsec",
    "skipped_steps",
    "skipped_summary",
]
