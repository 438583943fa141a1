# qbnn: exact training of binary neural networks. Stages live in workflow/rules/<stage>.smk;
# every rule calls the qbnn CLI (the library never imports Snakemake).
from snakemake.utils import min_version, validate

min_version("8.0")


# The default config applies only when no --configfile is given: a user's grid replaces it
# instead of being merged into the demo's experiments.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/qubo.smk"
include: "workflow/rules/dropout.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/mip.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
