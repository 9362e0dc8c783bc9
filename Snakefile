# Liger/IRIS imager reduction: raw frames -> dq_init -> dark_current -> flat_field -> assign_wcs -> L2b (_cal),
# then a quick-look PNG, QA row and stars per L2b frame and the night summary (rules/quicklook.smk), and the Level-3 mosaic of
# each observation that asks for one (rules/level3.smk).
# Your night: config/config.yaml (a commented template), or your own file with --configfile, which replaces it;
# every key is explained in config/README.md. The demo's and tests' night: .test/config/config.yaml.
# Also usable as a Snakemake module (`module drs: snakefile: ...`, or `snakedeploy deploy-workflow`): its own
# files are found from where Snakemake reads it (docs/workflow.rst, "Deploying the workflow").
import sys

from snakemake.utils import min_version

from liger_iris_pipeline.workflow.config import ConfigFileError, check_config_files
from liger_iris_pipeline.workflow.files import WorkflowFiles
from liger_iris_pipeline.workflow.garbage_collection import tune_garbage_collection

min_version("9.0")

# A large night's plan is millions of objects that Python's collector would walk again and again: see
# liger_iris_pipeline/workflow/garbage_collection.py.
tune_garbage_collection()

#: The workflow's own files (steps' .cfg, config schema and template, scripts), wherever Snakemake reads it from.
WORKFLOW_FILES = WorkflowFiles(workflow.current_basedir, workflow.sourcecache)
DEFAULT_CONFIGFILE = WORKFLOW_FILES.default_configfile()

# Snakemake's own YAML loader builds Python objects and runs YTE templates: check the files safely first (as a
# module: the files its user's Snakefile read, see workflow.configfiles). A --configfile is the whole config of a
# night: it replaces config/config.yaml rather than being merged into it.
try:
    check_config_files(workflow.configfiles or [DEFAULT_CONFIGFILE])
except ConfigFileError as error:
    sys.exit(f"error: {error}")
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIGFILE


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/specs.smk"
include: "rules/crds.smk"
include: "rules/calibration.smk"
include: "rules/calibrate.smk"
include: "rules/quicklook.smk"
include: "rules/level3.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        NIGHT.calibrated(),
        all_quicklook_products(),
        all_mosaic_products(),
