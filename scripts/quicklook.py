"""Snakemake script: the quick-look PNG and QA row of one L2b frame, its log in the rule's log file."""

import contextlib

from liger_iris_pipeline.quicklook import quicklook_frame

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):  # noqa: F821 (snakemake global)
    catalog = snakemake.input.catalog  # noqa: F821 (empty when the frame has no catalogue)
    try:
        row = quicklook_frame(
            snakemake.input.frame,  # noqa: F821
            snakemake.output.png,  # noqa: F821
            snakemake.output.qa,  # noqa: F821
            catalog_path=catalog[0] if catalog else None,
            stretch=snakemake.params.stretch,  # noqa: F821
            max_size=snakemake.params.max_size,  # noqa: F821
            match_radius_arcsec=snakemake.params.match_radius_arcsec,  # noqa: F821
        )
    except Exception as error:
        print(f"error: {error}", file=log)
        raise
    print(row, file=log)
