# Liger/IRIS imager reduction: raw frames -> dq_init -> dark_current -> flat_field -> assign_wcs -> L2b (_cal),
# then a quick-look PNG and QA row per L2b frame and the night summary (rules/quicklook.smk).
# Observations and parameters: config/config.yaml (explained in config/README.md).
from snakemake.utils import min_version, validate

from liger_iris_pipeline.workflow_config import check_config_files
from liger_iris_pipeline.workflow_gc import tune_garbage_collection

min_version("9.0")

# A large night's plan is millions of objects that Python's collector would walk again and again: see workflow_gc.
tune_garbage_collection()

# Snakemake's own YAML loader builds Python objects and runs YTE templates: check the files safely first.
check_config_files(["config/config.yaml", *workflow.overwrite_configfiles])


configfile: "config/config.yaml"


validate(config, "config/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/crds.smk"
include: "rules/calibration.smk"
include: "rules/calibrate.smk"
include: "rules/quicklook_common.smk"
include: "rules/quicklook.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        all_calibrated(),
        all_quicklook_products(),
