# Input functions and settings of the quick-look rules (rules/quicklook.smk).

QUICKLOOK = config.get("quicklook", {})
#: Params of every quick-look job: the display and the catalogue match (config.yaml's quicklook).
QUICKLOOK_PARAMS = {
    "stretch": QUICKLOOK.get("stretch", "zscale"),
    "max_size": QUICKLOOK.get("display_size", 1024),
    "match_radius_arcsec": QUICKLOOK.get("match_radius_arcsec", 0.1),
}


def all_l2b_stems():
    """<output_dir>/<observation>/<exposure>_<product> of every L2b frame the workflow makes."""
    return [path.removesuffix(".fits") for path in all_calibrated()]


def frame_catalog(wildcards):
    """Input function: the observation's star catalogue, else the one beside the raw frame (<raw>_catalog.ecsv)
    if there is one."""
    if "catalog" in OBSERVATIONS[wildcards.observation]:
        return [OBSERVATIONS[wildcards.observation]["catalog"]]
    raw = Path(FRAMES[wildcards.observation][wildcards.exposure])
    catalog = raw.with_name(f"{raw.stem}_catalog.ecsv")
    return [str(catalog)] if catalog.is_file() else []


def all_quicklook_products():
    """The default target's quick-look files: every L2b frame's PNG and QA row, the summary, the benchmarks."""
    per_frame = [
        f"{stem}_{kind}"
        for stem in all_l2b_stems()
        for kind in ("quicklook.png", "qa.ecsv")
    ]
    return (
        per_frame
        + list(rules.night_summary.output)
        + list(rules.benchmark_table.output)
    )


def batch_quicklooks(batch):
    """Params of a fused batch's quick-look job: [frame, its catalogue or None, PNG, QA table] of each frame."""
    rows = []
    for exposure, frame, png, qa in zip(
        batch.exposures,
        batch_products(batch, "cal.fits"),
        batch_products(batch, "cal_quicklook.png"),
        batch_products(batch, "cal_qa.ecsv"),
    ):
        catalog = frame_catalog(
            Wildcards(observation=batch.observation, exposure=exposure)
        )
        rows.append([frame, catalog[0] if catalog else None, png, qa])
    return rows
