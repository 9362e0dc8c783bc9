# Quick-looks and QA: a PNG and a one-row QA table beside every L2b frame (_cal, _merged), the night summary that
# gathers the rows, and the table of every job's benchmark; all of them go into `snakemake --report`.
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
        png=report(
            f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_quicklook.png",
            caption="../report/quicklook.rst",
            category="Quick-looks",
            subcategory="{observation}",
            labels={"frame": "{exposure}_{product}"},
        ),
        qa=f"{OUTPUT}/{{observation}}/{{exposure}}_{{product}}_qa.ecsv",
    log:
        "logs/quicklook/{observation}/{exposure}_{product}.log",
    benchmark:
        "benchmarks/rules/quicklook/{observation}/{exposure}_{product}.tsv"
    wildcard_constraints:
        # With fused batches, the batch's quick-look rule (below) makes those of the _cal frames.
        product="merged" if BATCHED_FRAMES else "cal|merged",
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=measured_memory("quicklook"),
        runtime=measured_runtime("quicklook"),
    params:
        **QUICKLOOK_PARAMS,
        code=code_version("quicklook"),
    script:
        "../scripts/quicklook.py"


# With fused batches (frames_per_job above 1), one job per batch makes the quick-looks of its frames, in one
# process.
if BATCHED_FRAMES:
    for batch in fused_batches():

        rule:
            name:
                batch.rule.replace("process_imager_l2_", "quicklook_", 1)
            input:
                frame=batch_products(batch, "cal.fits"),
                catalog=batch_input(batch, frame_catalog),
                selection=after_selection,
            output:
                png=[
                    report(
                        path,
                        caption="../report/quicklook.rst",
                        category="Quick-looks",
                        subcategory=batch.observation,
                        labels={"frame": f"{exposure}_cal"},
                    )
                    for exposure, path in zip(
                        batch.exposures, batch_products(batch, "cal_quicklook.png")
                    )
                ],
                qa=batch_products(batch, "cal_qa.ecsv"),
            log:
                f"logs/quicklook/{batch.observation}/{batch.name}.log",
            benchmark:
                f"benchmarks/rules/quicklook/{batch.observation}/{batch.name}.tsv"
            group:
                "frame"
            conda:
                "../envs/drs.yaml"
            threads: 1
            resources:
                mem_mb=batch_memory(batch, "quicklook"),
                runtime=batch_runtime(batch, "quicklook"),
            params:
                **QUICKLOOK_PARAMS,
                batch=batch_quicklooks(batch),
                code=code_version("quicklook"),
            script:
                "../scripts/quicklook.py"


rule night_summary:
    input:
        qa=[f"{stem}_qa.ecsv" for stem in all_l2b_stems()],
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
        "logs/night_summary.log",
    benchmark:
        "benchmarks/rules/night_summary.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        code=code_version("quicklook"),
    script:
        "../scripts/night_summary.py"


rule benchmark_table:
    input:
        # Runs after every frame's jobs; reads the benchmark files they left under benchmarks/rules/.
        summary=rules.night_summary.output.csv,
    output:
        report(
            f"{OUTPUT}/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
            labels={"file": "per-rule benchmark times"},
        ),
    log:
        "logs/benchmark_table.log",
    benchmark:
        "benchmarks/rules/benchmark_table.tsv"
    conda:
        "../envs/drs.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        root="benchmarks/rules",
    script:
        "../scripts/benchmark_table.py"
