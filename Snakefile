# qbnn: exact training of binary neural networks. Stages live in workflow/rules/<stage>.smk;
# every rule calls the qbnn CLI (the library never imports Snakemake).
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

# This workflow's directory: config paths not found in the working directory resolve against it, so a
# host workflow that includes this one as a `module` (with a `prefix`) finds the shipped topologies.
WORKFLOW_ROOT = Path(str(workflow.current_basedir)).resolve()


report: "workflow/report/workflow.rst"


# The default config applies only when no --configfile is given: a user's grid replaces it
# instead of being merged into the demo's experiments.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/config_checks.smk"


check_config_files_unique_keys(workflow.configfiles)
validate(config, "config/schema/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/software.smk"


check_config(config)


include: "workflow/rules/data.smk"
include: "workflow/rules/qubo.smk"
include: "workflow/rules/dropout.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/mip.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/paper_b.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        all_targets(),
