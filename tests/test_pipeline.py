"""The whole DAG for real: Snakemake on the tiny config, the plan of the default config, and resume after kill -9."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.benchmark import BENCHMARK_INTERVAL

from conftest import REPO, env_with_venv, snakemake_cmd
from ganbench.config import Config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, fmnist_mirror) -> Path:  # tiny.yaml reads Fashion-MNIST from the Debian mirror
    work = tmp_path_factory.mktemp("tiny")
    proc = subprocess.run(
        snakemake_cmd("--directory", str(work), "--configfile", str(REPO / "tests/configs/tiny.yaml"),
                      "--cores", "2", "--keep-going"),
        capture_output=True, text=True, env=env_with_venv(), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


def test_every_run_has_finite_metrics_and_the_report_exists(tiny_run):
    config = Config.load(REPO / "tests/configs/tiny.yaml")
    table = pd.read_csv(tiny_run / "results/metrics.csv")
    expected = {(r.dataset, r.variant, r.seed) for r in config.runs()}
    assert set(zip(table["dataset"], table["variant"], table["seed"])) == expected
    diverged = table["variant"] == "diverges"
    assert (table.loc[diverged, "status"] == "diverged").all() and diverged.sum() == 2
    assert (table.loc[~diverged, "status"] == "ok").all()
    assert table.loc[diverged, "modes"].isna().all(), "a diverged run must not get numbers that look valid"
    table = table[~diverged]
    per_kind = {"image": ["fid", "fid_best", "kid", "is", "precision", "recall", "classes_covered"],
                "points": ["modes", "hq_percent"]}
    for row in table.to_dict("records"):
        for metric in per_kind[row["kind"]] + ["train_seconds", "images_per_second", "eval_seconds"]:
            assert math.isfinite(row[metric]), (row["dataset"], row["variant"], metric)
    cgan = table[table["variant"] == "cgan"]
    assert len(cgan) == 2 and cgan["conditional_accuracy"].between(0, 1).all()
    html = (tiny_run / "results/report/index.html").read_text()
    assert "A  minimax" in html and "B  non-saturating" in html
    assert "2/2 diverged" in html
    for metric in ("fid", "modes"):
        assert f'data-metric="{metric}"' in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert images and all((tiny_run / "results/report" / src).is_file() for src in images)
    classifier = json.loads((tiny_run / "results/classifier/fashion_mnist/info.json").read_text())
    assert classifier["test_accuracy"] > 0.5


def test_one_evaluate_job_per_dataset_and_variant_writes_each_seeds_metrics(tiny_run):
    """Each (dataset, variant) was evaluated by one process covering its seeds; every metrics.json is its own run's
    (seed and train.json of its folder) and carries the job's recorded CPU cost."""
    config = Config.load(REPO / "tests/configs/tiny.yaml")
    for run in config.runs():
        folder = tiny_run / "results/runs" / run.path
        metrics = json.loads((folder / "metrics.json").read_text())
        train = json.loads((folder / "train.json").read_text())
        assert (metrics["dataset"], metrics["variant"], metrics["seed"]) == (run.dataset, run.variant, run.seed)
        assert metrics["steps"] == train["steps"] and metrics["train_seconds"] == train["train_seconds"]
        assert metrics["eval_job_runs"] == len(config.seeds)
        assert 0 <= metrics["eval_cpu_seconds"] < metrics["eval_job_cpu_seconds"]
        if len(metrics.get("fid_curve", [])) > 1:  # FID of earlier snapshots: part of the run's evaluation cost
            assert 0 < metrics["snapshot_fid_cpu_seconds"] < metrics["eval_cpu_seconds"]
        assert 0 < train["train_cpu_seconds"] < train["job_cpu_seconds"]
    logs = sorted((tiny_run / "results/logs/evaluate").rglob("*.log"))
    assert len(logs) * len(config.seeds) == len(list(config.runs()))


def test_second_run_has_nothing_to_do(tiny_run):
    proc = subprocess.run(
        snakemake_cmd("--directory", str(tiny_run), "--configfile", str(REPO / "tests/configs/tiny.yaml"), "-n"),
        capture_output=True, text=True, env=env_with_venv(), timeout=300)
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_killed_training_job_resumes_when_snakemake_reruns(tmp_path):
    cfg = {
        "seeds": [0],
        "datasets": {"ring8": {"n_train": 4000, "n_test": 1000}},
        "defaults": {"architecture": {"name": "mlp", "hidden": 64}, "steps": 3000, "checkpoint_every": 100,
                     "log_every": 20, "snapshots": 1},
        "variants": [{"name": "ns"}],
        "evaluation": {"num_samples": 500},
    }
    configfile = tmp_path / "cfg.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    args = snakemake_cmd("--directory", str(tmp_path), "--configfile", str(configfile), "--cores", "1")
    proc = subprocess.Popen(args, env=env_with_venv(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "results/runs/ring8/ns/seed0/ckpt"
    deadline = time.time() + 300
    while not (ckpt.exists() and any(ckpt.glob("step*.pt"))):
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, like a pre-empted node
    proc.wait()
    assert not (tmp_path / "results/runs/ring8/ns/seed0/train.json").exists()
    # what a user does after a crashed or pre-empted Snakemake: release its lock, rerun
    subprocess.run(args + ["--unlock"], check=True, capture_output=True, env=env_with_venv(), timeout=300)
    rerun = subprocess.run(args + ["--rerun-incomplete"], capture_output=True, text=True, env=env_with_venv(),
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    train = json.loads((tmp_path / "results/runs/ring8/ns/seed0/train.json").read_text())
    assert train["status"] == "ok" and train["steps"] == 3000 and train["resumed_from"] >= 100
    assert (tmp_path / "results/report/index.html").is_file()


def test_snakemake_report_bundles_the_marked_outputs(tiny_run):
    import zipfile

    target = tiny_run / "snakemake-report.zip"
    proc = subprocess.run(
        snakemake_cmd("--directory", str(tiny_run), "--configfile", str(REPO / "tests/configs/tiny.yaml"),
                      "--report", str(target)),
        capture_output=True, text=True, env=env_with_venv(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = zipfile.ZipFile(target).namelist()
    assert any(n.endswith("metrics.csv") for n in names)
    # the report folder (a directory output with htmlindex) travels whole: its page and its images
    assert any(re.search(r"/data/raw/[^/]+/index\.html$", n) for n in names), names[:20]
    assert any(re.search(r"/data/raw/[^/]+/img/.+\.png$", n) for n in names), names[:20]


def test_readme_outputs_table_names_everything_under_results(tiny_run):
    """The README's table of outputs lists every folder and file that a run of the DAG leaves in results/."""
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("Outputs (all under `results/`"):]
    table = table[:table.index("\n\n", table.index("| path |"))]
    listed = {re.match(r"[\w.]+", cell).group(0) for cell in re.findall(r"^\| `([^`]+)`", table, re.M)}
    made = {p.name for p in (tiny_run / "results").iterdir() if not p.name.startswith(".")}
    assert made <= listed, f"not in the README's outputs table: {sorted(made - listed)}"


def test_snakemake_benchmark_files_agree_with_the_cpu_seconds_the_jobs_record(tiny_run):
    """Every rule writes Snakemake's own benchmark file; the CPU seconds a training or evaluate job records itself
    (what the report's time table adds up) agree with Snakemake's measurement of the job's process tree: within
    1.5 s + 15 % (Snakemake samples the tree once a second, so it misses up to a second at the end, and it also
    counts the bash that wraps the job). After a job's first 30 s Snakemake samples only every 30 s
    (snakemake.benchmark.BENCHMARK_INTERVAL), so a job that ran longer (a loaded machine) may lose up to the CPU
    seconds of its last interval: its tolerance adds that much at the job's mean CPU rate."""
    bench = tiny_run / "results/benchmarks"
    config = Config.load(REPO / "tests/configs/tiny.yaml")
    rules = {p.relative_to(bench).parts[0].removesuffix(".tsv") for p in bench.rglob("*.tsv")}
    assert {"prepare", "train", "classifier", "features", "evaluate", "aggregate", "config_record", "report"} <= rules
    def agree(tsv: Path, recorded: float) -> None:
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        measured, wall = row["cpu_time"], row["s"]
        tolerance = 1.5 + 0.15 * recorded
        if wall > BENCHMARK_INTERVAL:  # coarse sampling: the last interval's CPU may be missed (never added)
            tolerance += BENCHMARK_INTERVAL * recorded / wall
        assert abs(measured - recorded) <= tolerance, (tsv, measured, recorded, wall)

    for run in config.runs():
        recorded = json.loads((tiny_run / f"results/runs/{run.path}/train.json").read_text())["job_cpu_seconds"]
        agree(bench / f"train/{run.path}.tsv", recorded)
    for path in (bench / "evaluate").rglob("*.tsv"):
        dataset, variant = path.parent.name, path.stem
        recorded = json.loads((tiny_run / f"results/runs/{dataset}/{variant}/seed0/metrics.json").read_text())
        agree(path, recorded["eval_job_cpu_seconds"])
