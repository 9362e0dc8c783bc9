"""Snakemake script: the quick-look PNG, QA row and stars (ECSV, DS9 regions) of one L2b frame, or of each frame of a
batch in one process; its log in the rule's log file, ending with one line on failure."""

from liger_iris_pipeline.quicklook import quicklook_frame
from liger_iris_pipeline.workflow.job import job_log


def quicklook(frame, catalog, png, qa, stars, regions, log):
    row = quicklook_frame(
        frame,
        png,
        qa,
        catalog_path=catalog,
        stars_path=stars,
        regions_path=regions,
        stretch=snakemake.params.stretch,  # noqa: F821 (snakemake global)
        max_size=snakemake.params.max_size,  # noqa: F821
        match_radius_arcsec=snakemake.params.match_radius_arcsec,  # noqa: F821
    )
    print(row, file=log)


with job_log(snakemake.log[0], snakemake.output) as log:  # noqa: F821
    batch = getattr(snakemake.params, "batch", None)  # noqa: F821: [frame, catalogue, PNG, QA, stars, regions] of each frame
    if batch is None:
        catalog = snakemake.input.catalog  # noqa: F821 (empty when the frame has no catalogue)
        output = snakemake.output  # noqa: F821
        batch = [[snakemake.input.frame, catalog[0] if catalog else None, output.png, output.qa, output.stars, output.regions]]  # noqa: F821
    for frame, catalog, png, qa, stars, regions in batch:
        quicklook(frame, catalog, png, qa, stars, regions, log)
