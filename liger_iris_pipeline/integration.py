"""stpipe entry point: the steps and pipelines ``tmtrun``/``strun`` know by alias."""


def get_steps():
    return [
        ("liger_iris_pipeline.DQInitStep", "dq_init", False),
        ("liger_iris_pipeline.DarkCurrentStep", "dark_current", False),
        ("liger_iris_pipeline.FlatFieldStep", "flat_field", False),
        ("liger_iris_pipeline.AssignWcsStep", "assign_wcs", False),
        ("liger_iris_pipeline.ParseSubarrayMapStep", "parse_subarray_map", False),
        ("liger_iris_pipeline.MergeSubarraysStep", "merge_subarrays", False),
        ("liger_iris_pipeline.ProcessImagerL2Pipeline", "process_imager_l2", True),
        ("liger_iris_pipeline.MasterDarkStep", "master_dark", False),
        ("liger_iris_pipeline.NormalizeStep", "normalize", False),
        ("liger_iris_pipeline.CombineFlatsStep", "combine_flats", False),
        ("liger_iris_pipeline.ProcessFlatfieldL2Pipeline", "process_flatfield_l2", True),
        ("liger_iris_pipeline.SubtractImagesStep", "subtract_images", False),
        ("liger_iris_pipeline.BackgroundStep", "background", False),
        ("liger_iris_pipeline.SaturationStep", "saturation", False),
        ("liger_iris_pipeline.NonlinearityStep", "nonlinearity", False),
        ("liger_iris_pipeline.JumpStep", "jump", False),
        ("liger_iris_pipeline.RampFitStep", "ramp_fit", False),
        ("liger_iris_pipeline.Detector1Pipeline", "detector1", True),
    ]
