# Quick-looks and QA: a PNG, a one-row QA table and the detected stars (ECSV table and DS9 regions) beside every L2b frame
# (_cal, _merged) and mosaic (_i2d), the night summary that gathers the QA rows, and the table of every job's benchmark;
# all of them but the QA rows (which the summary holds) go into `snakemake --report`.
# The two gathering rules are short and read every frame's small table: they run where snakemake runs.


localrules:
    night_summary,
    benchmark_table,


rule quicklook:
    input:
        frame=f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}.fits",
        catalog=frame_catalog,
        # Downstream of the crds_select checkpoint: without this, a rerun selection reruns every quick-look.
        selection=after_selection,
    output:
        png=quicklook_report(
            f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_quicklook.png",
            "{observation}",
            "{exposure}_{product}",
        ),
        qa=f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_qa.ecsv",
        stars=quicklook_report(
            f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_stars.ecsv",
            "{observation}",
            "{exposure}_{product}",
        ),
        regions=quicklook_report(
            f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_stars.reg",
            "{observation}",
            "{exposure}_{product}",
        ),
    log:
        log_of("quicklook", "{observation}/{exposure}_{product}"),
    benchmark:
        benchmark_of("quicklook", "{observation}/{exposure}_{product}")
    wildcard_constraints:
        # With fused batches, the batch's quick-look rule (below) makes those of the _cal frames.
        product="merged|i2d" if BATCHED_FRAMES else "cal|merged|i2d",
    conda:
        "../envs/quicklook.yaml"
    threads: 1
    resources:
        mem_mb=measured.measured_memory(NIGHT, "quicklook"),
        runtime=measured.measured_runtime(NIGHT, "quicklook"),
    params:
        **QUICKLOOK_PARAMS,
    script:
        "../scripts/quicklook.py"


# With fused batches (frames_per_job above 1), one job per batch makes the quick-looks of its frames, in one
# process.
for observation, number, exposures in (
    NIGHT.batches(config["frames_per_job"]) if BATCHED_FRAMES else []
):

    rule:
        name:
            batch_rule_name("quicklook", observation, number)
        input:
            frame=batch_products(observation, exposures, "cal.fits"),
            catalog=unique(
                frame_catalog(Wildcards(observation=observation, exposure=e))
                for e in exposures
            ),
            selection=after_selection,
        output:
            png=batch_quicklook_reports(observation, exposures, "quicklook.png"),
            qa=batch_products(observation, exposures, "cal_qa.ecsv"),
            stars=batch_quicklook_reports(observation, exposures, "stars.ecsv"),
            regions=batch_quicklook_reports(observation, exposures, "stars.reg"),
        log:
            f"{OUTPUT}/logs/quicklook/{observation}/batch_{number:04d}.log",
        benchmark:
            f"{OUTPUT}/benchmarks/quicklook/{observation}/batch_{number:04d}.tsv"
        group:
            "frame"
        conda:
            "../envs/quicklook.yaml"
        threads: 1
        resources:
            mem_mb=measured.batch_memory(NIGHT.instrument(observation), "quicklook"),
            runtime=measured.batch_runtime(
                NIGHT.instrument(observation), "quicklook", len(exposures)
            ),
        params:
            **QUICKLOOK_PARAMS,
            # [frame, its catalogue or None, PNG, QA table, stars, regions] of each frame.
            batch=[
                [
                    frame,
                    (
                        frame_catalog(Wildcards(observation=observation, exposure=e))
                        or [None]
                    )[0],
                    *outputs,
                ]
                for e, frame, *outputs in zip(
                    exposures,
                    batch_products(observation, exposures, "cal.fits"),
                    *(
                        batch_products(observation, exposures, f"cal_{kind}")
                        for kind in QUICKLOOK_KINDS
                    ),
                )
            ],
        script:
            "../scripts/quicklook.py"


rule night_summary:
    input:
        qa=[f"{stem}_qa.ecsv" for stem in l2b_stems()],
        selection=after_selection,
    output:
        csv=report(
            f"{OUTPUT}/night_summary.csv",
            caption="../report/night_summary_table.rst",
            category="Night summary",
            labels={"file": "QA table (CSV)"},
        ),
        html=report(
            f"{OUTPUT}/night_summary.html",
            caption="../report/night_summary_table.rst",
            category="Night summary",
            labels={"file": "QA table"},
        ),
        plot=report(
            f"{OUTPUT}/night_summary.png",
            caption="../report/night_summary_plot.rst",
            category="Night summary",
            labels={"file": "QA against time"},
        ),
    log:
        f"{OUTPUT}/logs/night_summary.log",
    benchmark:
        f"{OUTPUT}/benchmarks/night_summary.tsv"
    conda:
        "../envs/quicklook.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        code=script_code("night_summary.py"),
    script:
        "../scripts/night_summary.py"


rule benchmark_table:
    input:
        # Runs after every frame's jobs; reads the benchmark files they left under <output_dir>/benchmarks/.
        summary=rules.night_summary.output.csv,
        selection=after_selection,
    output:
        report(
            f"{OUTPUT}/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
            labels={"file": "per-rule benchmark times"},
        ),
    log:
        f"{OUTPUT}/logs/benchmark_table.log",
    benchmark:
        f"{OUTPUT}/benchmarks/benchmark_table.tsv"
    conda:
        "../envs/quicklook.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        # The benchmark files lie in <output_dir>/benchmarks/, beside this rule's output.
        root=lambda wildcards, output: os.path.join(
            os.path.dirname(output[0]), "benchmarks"
        ),
        code=script_code("benchmark_table.py"),
    script:
        "../scripts/benchmark_table.py"
