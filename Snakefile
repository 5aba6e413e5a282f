# vidspace: download -> sample_frames -> embed -> transform -> retrieval / spectrum /
# clustering -> plots -> report. Full reproduction: snakemake --cores 8 --resources gpu=1
# Embedded default: snakemake --cores 2 --configfile config/demo.yaml
from snakemake.utils import min_version

min_version("9.0")


# A --configfile on the command line replaces config.yaml instead of merging into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/analysis.smk"
include: "rules/plots.smk"
include: "rules/report.smk"


rule all:
    input:
        report=rules.report.output.report,
