# ganbench: prepare data → train every (dataset, variant, seed) → evaluate → aggregate → HTML report.
# Run: snakemake --cores all   (default config: config/config.yaml; another: --configfile config/modes.yaml)
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"{RESULTS}/report",
    default_target: True
