"""Build ``results/report/index.html``: one self-contained folder (HTML + PNGs) that opens from disk.

Inputs: the config (variant order and labels, baseline), ``metrics.csv``, and the run folders under
``results/runs`` (log.csv, samples, metrics.json with the FID curve) plus the per-dataset floor and classifier
records. jinja2 renders with autoescaping on, so names from the config can never inject markup.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ganbench.config import Config
from ganbench.io import atomic_open, write_text
from ganbench.report import plots
from ganbench.report.metrics import METRICS
from ganbench.report.tables import build_table


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("ganbench", "torch", "torchvision", "torch-fidelity", "snakemake", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _copy(src: Path, dst: Path) -> bool:
    if not src.is_file():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, atomic_open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return True


def _logs(results: Path, df: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for row in df.itertuples():
        path = results / "runs" / row.dataset / row.variant / f"seed{row.seed}" / "log.csv"
        if path.is_file():
            log = pd.read_csv(path)
            log["variant"], log["seed"], log["dataset"] = row.variant, row.seed, row.dataset
            frames.append(log)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _curves(results: Path, df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in df.itertuples():
        m = _read_json(results / "runs" / row.dataset / row.variant / f"seed{row.seed}" / "metrics.json") or {}
        for point in m.get("fid_curve", []):
            rows.append({"dataset": row.dataset, "variant": row.variant, "seed": row.seed, **point})
    return pd.DataFrame(rows)


def build_report(config: Config, metrics_csv: str | Path, out_dir: str | Path,
                 results_dir: str | Path = "results") -> Path:
    out, results = Path(out_dir), Path(results_dir)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(metrics_csv)
    df["seed"] = df["seed"].astype(int)
    variants = [(v, config.label(v)) for v in config.variant_names]
    order = [v for v, _ in variants]
    datasets = [d for d in config.datasets if d in set(df["dataset"])]
    floors = {d: (_read_json(results / "features" / d / "floor.json") or {}).get("metrics", {}) for d in datasets}
    classifiers = {d: _read_json(results / "classifier" / d / "info.json") for d in datasets}

    tables = [t for t in (build_table(df, name, variants, datasets, config.baseline(), config.report["bootstrap"],
                                      floors) for name in METRICS) if t is not None]

    figures: list[dict[str, str]] = []
    logs, curves = _logs(results, df), _curves(results, df)
    for dataset in datasets:
        sub = df[df["dataset"] == dataset]
        ok = sub[sub["status"] == "ok"]
        present = [v for v in order if v in set(sub["variant"])]
        kind = sub["kind"].iloc[0]
        lg = logs[logs["dataset"] == dataset] if not logs.empty else logs
        if not lg.empty:
            figures.append({"dataset": dataset, "title": "Losses",
                            "src": _rel(plots.loss_curves(lg, dataset, img / f"losses_{dataset}.png"), out)})
            figures.append({"dataset": dataset, "title": "D(x) and D(G(z))",
                            "src": _rel(plots.d_outputs(lg, dataset, img / f"dout_{dataset}.png"), out)})
        if kind == "image" and not ok.empty:
            cv = curves[curves["dataset"] == dataset] if not curves.empty else curves
            if not cv.empty:
                figures.append({"dataset": dataset, "title": "FID over training", "src": _rel(
                    plots.fid_over_training(cv, dataset, img / f"fidcurve_{dataset}.png"), out)})
            figures.append({"dataset": dataset, "title": "Final FID over seeds", "src": _rel(
                plots.metric_strip(ok, "fid", "FID", dataset, present, img / f"fidstrip_{dataset}.png"), out)})
            figures.append({"dataset": dataset, "title": "Precision vs recall", "src": _rel(
                plots.precision_recall(ok, dataset, img / f"prc_{dataset}.png"), out)})
        if kind == "points" and not ok.empty:
            n_modes = config.dataset_builder(dataset).num_classes
            figures.append({"dataset": dataset, "title": "Modes captured", "src": _rel(
                plots.mode_bars(ok, dataset, present, n_modes, img / f"modes_{dataset}.png"), out)})

    samples = _sample_images(df, config, results, out, order)
    runs = []
    for row in df.sort_values(["dataset", "variant", "seed"]).to_dict("records"):
        run_path = f"{row['dataset']}/{row['variant']}/seed{row['seed']}"
        runs.append({**row, "link": os.path.relpath(results / "runs" / run_path, out)})

    env = Environment(loader=PackageLoader("ganbench.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.get_template("index.html.j2").render(
        title=config.title,
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        tables=tables,
        variants=variants,
        baseline=config.label(config.baseline()),
        alpha=config.report["alpha"],
        figures=figures,
        datasets=datasets,
        samples=samples,
        runs=runs,
        classifiers=classifiers,
        evaluation=config.evaluation,
        config_yaml=yaml.safe_dump(config.raw, sort_keys=False),
        versions=_versions(),
        commit=_git_commit(),
        machine=f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · {platform.platform()}",
    )
    write_text(out / "index.html", html)
    return out / "index.html"


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def _sample_images(df: pd.DataFrame, config: Config, results: Path, out: Path, order: list[str]) -> list[dict]:
    """Best and worst seed's sample grid per (dataset, variant), by FID for images and modes for mixtures."""
    items = []
    for dataset in [d for d in config.datasets if d in set(df["dataset"])]:
        for variant in order:
            runs = df[(df["dataset"] == dataset) & (df["variant"] == variant)]
            if runs.empty:
                continue
            ok = runs[runs["status"] == "ok"]
            key, asc = ("fid", True) if runs["kind"].iloc[0] == "image" else ("modes", False)
            ranked = ok.sort_values(key, ascending=asc) if key in ok and not ok.empty else runs
            picks = [("best", ranked.iloc[0])] + ([("worst", ranked.iloc[-1])] if len(ranked) > 1 else [])
            shown = []
            for tag, row in picks:
                src = results / "runs" / dataset / variant / f"seed{int(row['seed'])}" / "samples.png"
                dst = out / "img" / "samples" / f"{dataset}__{variant}__seed{int(row['seed'])}.png"
                if _copy(src, dst):
                    shown.append({"tag": tag, "seed": int(row["seed"]), "src": _rel(dst, out)})
            items.append({"dataset": dataset, "variant": variant, "label": config.label(variant), "images": shown})
    return items
