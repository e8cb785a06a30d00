# Shared set-up: the validated config, the runs it implies, what each job depends on (ganbench.specs), and the
# input functions of the rules.
#
# Nothing here writes a file: `snakemake -n` and `--lint` leave the results folder as it is. Every job gets its slice
# of the config on the command line (`--spec`) and as a Snakemake param, so an edit reruns exactly the jobs whose
# slice changed (ganbench/specs.py has the table). A param function that takes `input` is a "derived" param, which
# Snakemake does not compare between runs: the full command-line specs are passed that way, and the part that
# decides a job's result is a plain param beside it.
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

import ganbench
from ganbench import specs
from ganbench.config import Config, write_config
from ganbench.errors import ConfigError
from ganbench.runs import run_path

RESULTS = "results"

try:
    CFG = Config(config, source="the Snakemake config")
except ConfigError as exc:
    sys.exit(f"ganbench: invalid config: {exc}")

RUNS = list(CFG.runs())
PUBLISHED = str(Path(ganbench.__file__).parent / "reference" / "published.yaml")
IMAGE_DATASETS = set(CFG.image_datasets())

# Jobs run `python -m ganbench`. With --software-deployment-method conda that is the python of the rule's
# environment (workflow/envs/ganbench.yaml), importing ganbench from this repository; otherwise the python that runs
# Snakemake (a venv need not be activated).
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    shell.prefix(f"export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")  # (format-escaped)
else:
    shell.prefix(f"export PATH={Path(sys.executable).parent}:$PATH; ")


wildcard_constraints:
    dataset="[A-Za-z0-9_.+-]+",
    variant="[A-Za-z0-9_.+-]+",
    seed=r"\d+",


# Light jobs run where Snakemake runs (on a cluster: the submit node, which has the internet for downloads).
localrules:
    all,
    prepare_data,
    config_record,
    aggregate,
    report,


onstart:
    from ganbench.report.stale import mark_stale

    # A run that rebuilds the report first marks the old one as out of date, so that a run which stops early
    # (a crash, a kill, a cluster time limit) never leaves an old report passing for the new one.
    try:
        planned = {job.rule.name for job in workflow.dag.needrun_jobs()}
    except AttributeError:  # another Snakemake's internals: assume the report is among the jobs
        planned = {"report"}
    if "report" in planned:
        mark_stale(f"{RESULTS}/report")


def seed_dirs(w):
    return [str(run_path(RESULTS, w.dataset, w.variant, seed)) for seed in CFG.seeds]


def evaluate_inputs(w):
    inputs = {"data": f"{RESULTS}/data/{w.dataset}.npz"}
    for seed, folder in zip(CFG.seeds, seed_dirs(w)):
        inputs[f"train{seed}"] = f"{folder}/train.json"
    if w.dataset in IMAGE_DATASETS:
        inputs["features"] = f"{RESULTS}/features/{w.dataset}/real.pt"
        inputs["classifier"] = f"{RESULTS}/classifier/{w.dataset}/model.pt"
    return inputs


def image_args(w, input):
    if w.dataset not in IMAGE_DATASETS:
        return ""
    return f"--real-features {input.features} --classifier {input.classifier}"
