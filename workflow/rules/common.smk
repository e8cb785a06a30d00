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
from ganbench import specs, weights
from ganbench.config import Config, write_config
from ganbench.errors import ConfigError
from ganbench.io import read_json
from ganbench.runs import run_path, search_path, search_run_path

RESULTS = "results"

try:
    CFG = Config(config, source="the Snakemake config")
except ConfigError as exc:
    sys.exit(f"ganbench: invalid config: {exc}")

RUNS = list(CFG.runs())
SEARCHED = set(CFG.searched())  # (dataset, variant) pairs with a hyperparameter search (workflow/rules/search.smk)
WEIGHTS = weights.needed(CFG.evaluation)  # feature-network weights to download, by role ("main", "prc")
WEIGHTS_DIR = weights.cache_dir(CFG.evaluation, RESULTS)  # where they are kept (evaluation.weights_cache)
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
    h=r"\d+",
    file="[A-Za-z0-9_.+-]+",


# Light jobs run where Snakemake runs (on a cluster: the submit node, which has the internet for downloads).
localrules:
    all,
    prepare_data,
    download_weights,
    config_record,
    select,
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


def image_inputs(w, split=""):
    """What an evaluation of an image dataset reads beside the runs: the real side (of the test split, or of
    ``split``), the domain classifier and the downloaded feature-network weights."""
    if w.dataset not in IMAGE_DATASETS:
        return {}
    return {
        "features": Path(RESULTS, "features", w.dataset, split, "real.pt").as_posix(),  # ("" adds no folder)
        "classifier": f"{RESULTS}/classifier/{w.dataset}/model.pt",
        **weights_inputs(w),
    }


def weights_inputs(w):
    return {f"weights_{role}": f"{WEIGHTS_DIR}/{file.filename}" for role, file in WEIGHTS.items()}


def weights_args(w, input):
    flags = {"weights_main": "--weights", "weights_prc": "--prc-weights"}
    return " ".join(f"{flag} {getattr(input, name)}" for name, flag in flags.items() if hasattr(input, name))


def evaluate_inputs(w):
    inputs = {"data": f"{RESULTS}/data/{w.dataset}.npz"}
    for seed, folder in zip(CFG.seeds, seed_dirs(w)):
        inputs[f"train{seed}"] = f"{folder}/train.json"
    return {**inputs, **image_inputs(w)}


def image_args(w, input):
    if w.dataset not in IMAGE_DATASETS:
        return ""
    return f"--real-features {input.features} --classifier {input.classifier} {weights_args(w, input)}"


# ---------------------------------------------------------------------------------------------- a search's phases
def selection(w):
    """The selection record (selected.json) of a searched (dataset, variant), None for a variant without a search.
    Until the `select` checkpoint has run, this raises Snakemake's IncompleteCheckpointException: a job that asks
    waits for the selection, and Snakemake evaluates it again once the selection exists."""
    if (w.dataset, w.variant) not in SEARCHED:
        return None
    return read_json(checkpoints.select.get(dataset=w.dataset, variant=w.variant).output[0])


def selection_wait(w):
    """No input file: a searched variant's runs only wait for its selection. selected.json is not an input of
    theirs (its rewrite would retrain them all): the spec param, which carries the selected setting, decides
    whether they rerun."""
    selection(w)
    return []


def phase2_spec(w):
    return specs.selected_train_spec(CFG, w.dataset, w.variant, w.seed, selection(w))


def reuse_args(w):
    """--reuse: the phase-1 run of the selected setting with this seed, which is this very run (copied, not
    trained again: ganbench.runs.copy_run checks that the identities agree)."""
    chosen = selection(w)
    if not chosen or chosen["selected"] is None or int(w.seed) not in chosen["phase1_seeds"]:
        return ""
    return f"--reuse {search_run_path(RESULTS, w.dataset, w.variant, chosen['selected'], w.seed)}"


def search_metrics(w):
    search = CFG.search(w.variant)
    return [
        f"{search_run_path(RESULTS, w.dataset, w.variant, sample.h, seed)}/metrics.json"
        for sample in CFG.samples(w.variant)
        for seed in search.seeds
    ]


def evaluate_search_inputs(w):
    train = f"{search_run_path(RESULTS, w.dataset, w.variant, w.h, w.seed)}/train.json"
    return {"data": f"{RESULTS}/data/{w.dataset}.npz", "train": train, **image_inputs(w, "val")}
