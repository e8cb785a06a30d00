"""The research loop as a researcher lives it, from the root of a clean copy of the repository (no -s, no
--directory): every shipped config runs as written; an edit reruns exactly what depends on it; a result on disk
always belongs to the settings beside it; a crashed run becomes a row of the report; a stopped Snakemake never
leaves an old report passing for a new one; SIGTERM checkpoints and a rerun continues bitwise.

The tests of the finished-benchmark section share one benchmark (``finished``) and run in file order: first the
dry runs of every edit, then the edits that really run (they change the shared results)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, VENV_BIN
from ganbench.config import Config
from ganbench.runs import run_path, stale_folder

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------- a clean clone
@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The repository as a fresh clone has it: the tracked files and the untracked ones git does not ignore (so
    uncommitted work is tested too), without results/, .venv/ or .snakemake/."""
    root = tmp_path_factory.mktemp("clone") / "ganbench"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file() or src.is_symlink():
            dst = root / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
    return root


def env_for(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(root)  # the clone's ganbench, in Snakemake and in its jobs
    return env


def snakemake(root: Path, *args: str, timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(VENV_BIN / "snakemake"), *args], cwd=root, capture_output=True, text=True,
                          env=env_for(root), timeout=timeout)
    if check:
        assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def ganbench(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "ganbench", *args], cwd=root, capture_output=True,
                          text=True, env=env_for(root), timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def planned(root: Path, *args: str) -> set[tuple[str, str]]:
    """The jobs a dry run plans, as (rule, first output) pairs."""
    out = snakemake(root, "-n", *args)
    text = out.stdout + out.stderr
    jobs = set()
    for match in re.finditer(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: ([^\s,]+)", text, re.M):
        jobs.add((match.group(1), match.group(2)))
    for match in re.finditer(r"^(?:local)?rule (\w+):\n(?:    (?!output).*\n)*?    jobid", text, re.M):
        jobs.add((match.group(1), ""))  # a job without output (the target rule `all`)
    return jobs


# ---------------------------------------------------------------------------------------------- shipped configs
def test_every_shipped_config_plans_exactly_its_runs_from_the_repository_root(clone):
    """`snakemake -n --configfile config/X.yaml` from the root plans one train job per run `ganbench check` counts
    (the default config is not merged in), plain `snakemake -n` plans the default, and neither writes anything."""
    configs = sorted(p.name for p in (clone / "config").glob("*.yaml"))
    assert "config.yaml" in configs and len(configs) >= 4
    for name in [None, *configs]:
        args = ("--configfile", f"config/{name}") if name else ()
        config = Config.load(clone / "config" / (name or "config.yaml"))
        runs = list(config.runs())
        check = ganbench(clone, "check", "--config", f"config/{name or 'config.yaml'}").stdout
        assert f"valid; {len(runs)} runs" in check
        rules = [rule for rule, _ in planned(clone, *args)]
        assert rules.count("train") == len(runs), name
        assert rules.count("evaluate") * len(config.seeds) == len(runs), name
        assert rules.count("prepare_data") == len(config.datasets), name
        assert rules.count("train_classifier") == len(config.image_datasets()), name
    lint = snakemake(clone, "--lint", check=False)
    assert "invalid config" not in lint.stdout + lint.stderr
    assert not (clone / "results").exists(), "a dry run or --lint wrote into results/"


def test_the_slurm_profile_command_of_the_readme_plans_the_lucic_config(clone):
    """The README's cluster command, as a dry run (no cluster needed to plan)."""
    config = Config.load(clone / "config/lucic2018.yaml")
    rules = [rule for rule, _ in planned(clone, "--profile", "workflow/profiles/slurm",
                                         "--configfile", "config/lucic2018.yaml")]
    assert rules.count("train") == len(list(config.runs()))


# ---------------------------------------------------------------------------------------------- a finished benchmark
TINY = {
    "title": "loop",
    "seeds": [0, 1],
    "datasets": {
        "fashion_mnist": {"mirrors": ["file:///usr/share/datasets/fashion-mnist/"], "train_limit": 3000,
                          "test_limit": 1000},
        "ring8": {"n_train": 3000, "n_test": 1000},
    },
    "defaults": {"architecture": {"name": "mlp", "hidden": 32}, "steps": 40, "checkpoint_every": 20,
                 "log_every": 10, "snapshots": 2},
    "variants": [
        {"name": "minimax", "label": "A minimax", "loss": "minimax"},
        {"name": "ns", "label": "B non-saturating"},
        {"name": "lsgan", "label": "C LSGAN", "loss": "lsgan", "datasets": ["ring8"]},
    ],
    "evaluation": {"num_samples": 400, "batch_size": 200, "kid_subset_size": 100,
                   "classifier": {"epochs": 1, "min_accuracy": 0.5}},
}


def write_config(root: Path, name: str, edit=None) -> str:
    cfg = json.loads(json.dumps(TINY))
    if edit:
        edit(cfg)
    (root / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name


def run_files(results: Path) -> dict[str, tuple[str, int]]:
    """Every file under results/runs: its content hash and modification time."""
    out = {}
    for path in sorted((results / "runs").rglob("*")):
        if path.is_file():
            out[str(path.relative_to(results))] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                  path.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def finished(fmnist_mirror, clone) -> Path:
    write_config(clone, "loop.yaml")
    snakemake(clone, "--cores", "2", "--configfile", "loop.yaml")
    return clone


def jobs_for(config: Config, rule: str, variants=None, datasets=None, seeds=None) -> set[tuple[str, str]]:
    """The expected (rule, output) pairs of the train or evaluate jobs of some runs."""
    out = set()
    for run in config.runs():
        if (variants and run.variant not in variants) or (datasets and run.dataset not in datasets) or \
                (seeds and run.seed not in seeds):
            continue
        folder = run_path("results", run.dataset, run.variant, run.seed).as_posix()
        if rule == "train":
            out.add(("train", f"{folder}/train.json"))
        elif run.seed == config.seeds[0]:
            out.add(("evaluate", f"{folder}/metrics.json"))
    return out


TAIL = {("aggregate", "results/metrics.csv"), ("config_record", "results/config.yaml"),
        ("report", "results/report"), ("all", "")}


def edited(root: Path, name: str, edit) -> tuple[Config, set[tuple[str, str]]]:
    path = write_config(root, name, edit)
    return Config.load(root / path), planned(root, "--configfile", path)


def test_a_finished_benchmark_has_nothing_to_do(finished):
    assert planned(finished, "--configfile", "loop.yaml") == set()


def test_editing_one_variants_learning_rate_plans_only_that_variant(finished):
    config, jobs = edited(finished, "lr.yaml", lambda c: c["variants"][1].update(optimizer={"lr_d": 1e-3}))
    assert jobs == jobs_for(config, "train", ["ns"]) | jobs_for(config, "evaluate", ["ns"]) | TAIL


def test_adding_a_variant_trains_only_its_runs(finished):
    config, jobs = edited(finished, "more.yaml", lambda c: c["variants"].append(
        {"name": "wgan-gp", "loss": "wgan-gp", "d_steps": 2, "datasets": ["ring8"]}))
    assert jobs == jobs_for(config, "train", ["wgan-gp"]) | jobs_for(config, "evaluate", ["wgan-gp"]) | TAIL


def test_adding_a_seed_trains_only_the_new_runs(finished):
    config, jobs = edited(finished, "seed.yaml", lambda c: c.update(seeds=[0, 1, 2]))
    # each evaluate job covers all seeds of its (dataset, variant), so every one runs again (no retraining)
    assert jobs == jobs_for(config, "train", seeds=[2]) | jobs_for(config, "evaluate") | TAIL


def test_an_evaluation_option_reevaluates_without_retraining(finished):
    config, jobs = edited(finished, "eval.yaml", lambda c: c["evaluation"].update(num_samples=300))
    features = {("real_features", "results/features/fashion_mnist/real.pt")}
    assert jobs == features | jobs_for(config, "evaluate") | TAIL


def test_a_label_or_report_option_rebuilds_only_the_report(finished):
    tail = {("config_record", "results/config.yaml"), ("report", "results/report"), ("all", "")}
    assert edited(finished, "label.yaml", lambda c: c["variants"][0].update(label="A renamed"))[1] == tail
    assert edited(finished, "report.yaml", lambda c: c.update(report={"bootstrap": 500}))[1] == tail
    # where a dataset is downloaded from is no part of the data (checksums are verified): nothing retrains
    mirror = edited(finished, "mirror.yaml", lambda c: c["datasets"]["fashion_mnist"].update(
        mirrors=["/usr/share/datasets/fashion-mnist", "https://example.invalid/"]))[1]
    assert mirror == tail


def test_a_dataset_option_reruns_only_that_datasets_chain(finished):
    config, jobs = edited(finished, "data.yaml", lambda c: c["datasets"]["ring8"].update(n_train=2500))
    assert jobs == ({("prepare_data", "results/data/ring8.npz")} | jobs_for(config, "train", datasets=["ring8"])
                    | jobs_for(config, "evaluate", datasets=["ring8"]) | TAIL)


def test_an_lr_edit_retrains_that_variant_as_a_fresh_run_and_touches_nothing_else(finished):
    results = finished / "results"
    before = run_files(results)
    snakemake(finished, "--cores", "2", "--configfile", "lr.yaml")
    after = run_files(results)
    edited_runs = [p for p in before if "/ns/" in p]
    untouched = [p for p in before if "/ns/" not in p]
    assert untouched and all(after[p] == before[p] for p in untouched), "an untouched run's file was rewritten"
    for dataset in ("fashion_mnist", "ring8"):
        for seed in (0, 1):
            folder = run_path(results, dataset, "ns", seed)
            train = json.loads((folder / "train.json").read_text())
            assert train["settings"]["optimizer"]["lr_d"] == 1e-3 and train["resumed_from"] == 0
            key = f"{run_path('', dataset, 'ns', seed).as_posix()}/generator.pt"
            assert after[key][0] != before[key][0], "the edited run kept its old weights"
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["identity"] == train["identity"] == json.loads((folder / "identity.json").read_text())["id"]
            # the old run is kept aside, whole
            stale = list(stale_folder(folder, None).iterdir())
            assert len(stale) == 1 and (stale[0] / "generator.pt").is_file() and (stale[0] / "ckpt").is_dir()
            assert hashlib.sha256((stale[0] / "generator.pt").read_bytes()).hexdigest() == before[key][0]
    assert all(p in after for p in edited_runs)
    # the retrained weights are exactly those of a fresh run with the new settings
    fresh = finished / "fresh"
    ganbench(finished, "train", "--config", "lr.yaml", "--dataset", "ring8", "--variant", "ns", "--seed", "1",
             "--data", "results/data/ring8.npz", "--out-dir", str(fresh), "--threads", "1")
    assert (fresh / "generator.pt").read_bytes() == (results / "runs/ring8/ns/seed1/generator.pt").read_bytes()
    assert "Out of date" not in (results / "report/index.html").read_text()


def test_a_variant_that_raises_at_train_time_becomes_a_failed_row_of_the_report(finished):
    """A variant asks for a device this machine lacks: its jobs raise at train time (a submit node cannot check
    that), the workflow still finishes, and the report shows the failure, the error and the retry command."""
    missing = "mps" if torch.cuda.is_available() else "cuda"
    path = write_config(finished, "broken.yaml", lambda c: (
        c["variants"][1].update(optimizer={"lr_d": 1e-3}),
        c["variants"].append({"name": "gpu-only", "label": "D needs a GPU", "runtime": {"device": missing},
                              "datasets": ["ring8"]})))
    snakemake(finished, "--cores", "2", "--configfile", path)
    results = finished / "results"
    table = pd.read_csv(results / "metrics.csv")
    failed = table[table["variant"] == "gpu-only"]
    assert len(failed) == 2 and (failed["status"] == "failed").all()
    assert failed["message"].str.contains(f"runtime.device: '{missing}' requested").all()
    assert failed["modes"].isna().all()
    assert (table.loc[table["variant"] != "gpu-only", "status"] == "ok").all()
    html = (results / "report/index.html").read_text()
    assert 'data-incomplete="true"' in html and "2 of 12 runs failed" in html
    assert "2/2 failed" in html
    assert f"runtime.device: &#39;{missing}&#39; requested" in html  # the error in the runs table, escaped
    assert "--forcerun results/runs/ring8/gpu-only/seed0/train.json" in html


def test_snakemake_stopping_early_leaves_the_old_report_marked_out_of_date(finished):
    """Data preparation fails (its mirror is gone and the download cache was cleared): Snakemake stops before the
    report, and the report of the last complete run says at its top that it is out of date."""
    report = finished / "results/report/index.html"
    assert "Out of date" not in report.read_text()
    shutil.rmtree(finished / "results/downloads")
    path = write_config(finished, "nomirror.yaml", lambda c: c["datasets"]["fashion_mnist"].update(
        mirrors=[str(finished / "no-such-mirror")], train_limit=2000))
    proc = snakemake(finished, "--cores", "2", "--configfile", path, check=False)
    assert proc.returncode != 0
    assert 'data-stale="true"' in report.read_text()


# ---------------------------------------------------------------------------------------------- preemption
def test_sigterm_checkpoints_the_current_step_and_a_rerun_is_bitwise_identical(ring8_npz, tmp_path):
    cfg = {"seeds": [0], "datasets": {"ring8": {}},
           "defaults": {"architecture": {"name": "mlp", "hidden": 64}, "steps": 4000, "checkpoint_every": 100000,
                        "log_every": 1000, "snapshots": 2},
           "variants": [{"name": "ns"}]}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    args = [str(VENV_BIN / "python"), "-m", "ganbench", "train", "--config", str(tmp_path / "cfg.yaml"),
            "--dataset", "ring8", "--variant", "ns", "--seed", "0", "--data", str(ring8_npz), "--threads", "1"]
    whole = subprocess.run(args + ["--out-dir", str(tmp_path / "whole")], capture_output=True, text=True,
                           env=env_for(REPO), timeout=900)
    assert whole.returncode == 0, whole.stderr[-2000:]
    proc = subprocess.Popen(args + ["--out-dir", str(tmp_path / "cut")], env=env_for(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    snapshot = tmp_path / "cut/snapshots/step00002000.pt"
    deadline = time.time() + 600
    while not snapshot.exists():  # the first of two snapshots: training is mid-way
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be stopped"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM" in err
    ckpts = sorted((tmp_path / "cut/ckpt").glob("step*.pt"))
    assert len(ckpts) == 1 and not (tmp_path / "cut/train.json").exists()
    step = int(ckpts[0].stem[4:])
    # the signal came just after step 2000: the checkpoint is of a step in the middle of the 2000-3000 log window,
    # so the rerun must carry that window's statistics over to write the same log row
    assert 2000 < step < 3000, "expected a checkpoint of the step in progress, mid log window"
    rerun = subprocess.run(args + ["--out-dir", str(tmp_path / "cut")], capture_output=True, text=True,
                           env=env_for(REPO), timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads((tmp_path / "cut/train.json").read_text())["resumed_from"] == step
    assert (tmp_path / "cut/generator.pt").read_bytes() == (tmp_path / "whole/generator.pt").read_bytes()
    a, b = (pd.read_csv(tmp_path / f"{name}/log.csv").drop(columns="seconds") for name in ("whole", "cut"))
    assert len(a) == len(b) == 4
    pd.testing.assert_frame_equal(a, b, check_exact=True)
