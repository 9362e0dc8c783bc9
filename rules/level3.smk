# Level 3: each observation with `mosaic: true` combines its L2b frames (a dither) in one Image3Pipeline job:
# tweakreg -> skymatch -> outlier_detection -> resample -> source_catalog, making the frames' _crf, the _i2d mosaic,
# its _cat.ecsv catalogue and _cat.reg regions. One rule per such observation (its _crf outputs are its frames');
# a changed frame, its .cfg, parameters or code rerun that observation's mosaic and nothing else. The mosaic's
# quick-look and QA row come from the quick-look rule (rules/quicklook.smk).
for observation, frames in NIGHT.mosaics.items():

    rule:
        name:
            mosaic_rule_name(observation)
        input:
            frames=frames,
            reference_catalog=reference_catalog(observation),
            cfg=step_cfg("image3"),
            # Downstream of the crds_select checkpoint (see rules/calibrate.smk).
            selection=after_selection,
        output:
            mosaic=mosaic_product(observation, "i2d.fits"),
            catalog=mosaic_product(observation, "cat.ecsv"),
            regions=mosaic_product(observation, "cat.reg"),
            crf=[outlier_flagged(frame) for frame in frames],
        log:
            f"{OUTPUT}/logs/image3/{observation}.log",
        benchmark:
            f"{OUTPUT}/benchmarks/image3/{observation}.tsv"
        conda:
            "../envs/steps.yaml"
        threads: MOSAIC_THREADS
        resources:
            mem_mb=measured.mosaic_memory(NIGHT.instrument(observation)),
            runtime=measured.mosaic_runtime(NIGHT.instrument(observation), len(frames)),
        params:
            product=observation,
            parameters=image3_parameters(observation),
            code=step_code("image3"),
        script:
            "../scripts/image3.py"
