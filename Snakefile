# Liger/IRIS imager reduction: raw frames -> dq_init -> dark_current -> flat_field -> assign_wcs -> L2b (_cal).
# Observations and parameters: config/config.yaml (explained in config/README.md).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/config.schema.yaml")


include: "rules/common.smk"
include: "rules/crds.smk"
include: "rules/calibration.smk"
include: "rules/calibrate.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        all_calibrated(),
