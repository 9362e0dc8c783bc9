"""Quick-looks and quality numbers of calibrated (L2b) frames, and the night summary that gathers them.

``quicklook_frame`` writes a frame's PNG and one-row QA table; ``night_summary`` gathers the rows of a night
into a CSV/HTML table and plots against time; ``benchmark_summary`` tabulates the workflow's benchmark files.
"""

from .display import north_east_directions, render_quicklook, scale_bar_arcsec
from .frame import quicklook_frame
from .qa import frame_qa
from .summary import benchmark_summary, night_summary

__all__ = [
    "benchmark_summary",
    "frame_qa",
    "night_summary",
    "north_east_directions",
    "quicklook_frame",
    "render_quicklook",
    "scale_bar_arcsec",
]
