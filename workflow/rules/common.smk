# Shared set-up: the validated config, the runs it implies, and what each job depends on (ganbench.specs).
#
# Nothing here writes a file: `snakemake -n` and `--lint` leave the results folder as it is. Every job gets its slice
# of the config on the command line (`--spec`) and as a Snakemake param, so an edit reruns exactly the jobs whose
# slice changed (ganbench/specs.py has the table). A param function that takes `input` is a "derived" param, which
# Snakemake does not compare between runs: the full command-line specs are passed that way, and the part that
# decides a job's result is a plain param beside it.
import os
import sys
from pathlib import Path

import ganbench
from ganbench import specs
from ganbench.config import Config
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

# Jobs call the `ganbench` command of the Python environment Snakemake runs in (a venv need not be activated).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


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


def run_dir(w):
    return str(run_path(RESULTS, w.dataset, w.variant, w.seed))


def seed_dirs(w):
    return [str(run_path(RESULTS, w.dataset, w.variant, seed)) for seed in CFG.seeds]
