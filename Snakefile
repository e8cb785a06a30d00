# ganbench: prepare data → train every (dataset, variant, seed) → evaluate → aggregate → HTML report.
# A variant with a `search:` block first trains its sampled settings, evaluates them on the validation split and
# selects one (workflow/rules/search.smk); its runs then train the selected setting.
# Run: snakemake --cores all                                   (the embedded benchmark, config/config.yaml)
#      snakemake --cores all --configfile config/modes.yaml    (another config: replaces the default, no merging)
from snakemake.utils import min_version, validate

min_version("9.0")


# The default config applies only when no --configfile is given: Snakemake would otherwise merge the
# command-line file over it, and keys of the default (datasets, variants) would leak into the other benchmark.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        f"{RESULTS}/report",
