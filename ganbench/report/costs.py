"""What the benchmark cost, from the times every job recorded: CPU seconds per (dataset, variant) split into training
steps, the rest of the training job and evaluation, plus the once-per-dataset jobs (prepare, classifier, real
features), and the share of all of it spent in training steps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.report.figures import read_json


def _col(frame: pd.DataFrame, name: str, fallback: str | None = None) -> pd.Series:
    values = pd.to_numeric(frame[name], errors="coerce") if name in frame.columns else pd.Series(np.nan, frame.index)
    return values.fillna(_col(frame, fallback)) if fallback else values


def _run_costs(frame: pd.DataFrame) -> dict[str, Any]:
    """CPU seconds of some runs' jobs, summed: the training steps; the rest of the training job (interpreter
    start-up, imports, data, models, checkpoints, snapshots, sample grid); evaluation (each run's own evaluation
    plus its share of its evaluate job's start-up and loading). Wall seconds stand in where a metrics file from an
    older ganbench has no CPU times."""
    train = _col(frame, "train_cpu_seconds", "train_seconds")
    job = _col(frame, "train_job_cpu_seconds", "total_train_job_seconds").fillna(train)
    own_eval = _col(frame, "eval_cpu_seconds", "eval_seconds").fillna(0)
    eval_setup = (_col(frame, "eval_job_setup_cpu_seconds") / _col(frame, "eval_job_runs")).fillna(0)
    other, evaluation = (job - train).clip(lower=0).fillna(0), own_eval + eval_setup
    return {"runs": len(frame), "train": float(train.sum()), "other": float(other.sum()),
            "eval": float(evaluation.sum()), "eval_setup": float(eval_setup.sum())}


def _share(row: dict[str, Any], shared: float = 0.0) -> dict[str, Any]:
    total = row["train"] + row["other"] + row["eval"] + shared
    return {**row, "shared": shared, "total": total,
            "share": 100.0 * row["train"] / total if total > 0 else math.nan,
            "eval_ratio": 100.0 * row["eval"] / row["train"] if row["train"] > 0 else math.nan}


def _shared_costs(results: Path, datasets: list[str]) -> list[dict[str, Any]]:
    """CPU seconds of the once-per-dataset jobs, as each recorded them: prepare (in the .npz meta), the domain
    classifier (info.json) and the real features with the floor (floor.json); NaN where a dataset has no such job."""
    rows = []
    for dataset in datasets:
        parts: dict[str, float] = {}
        try:
            with np.load(results / "data" / f"{dataset}.npz", allow_pickle=False) as z:
                parts["prepare"] = float(json.loads(bytes(z["meta"]).decode()).get("prepare_cpu_seconds", math.nan))
        except (OSError, ValueError, KeyError):
            parts["prepare"] = math.nan
        for name, path in (("classifier", results / "classifier" / dataset / "info.json"),
                           ("features", results / "features" / dataset / "floor.json")):
            record = read_json(path) or {}  # ring/grid datasets have neither
            parts[name] = float(record.get("job_cpu_seconds", math.nan))
        rows.append({"dataset": dataset, **parts,
                     "total": float(np.nansum(list(parts.values())))})
    return rows


def time_breakdown(df: pd.DataFrame, order: list[str], labels: dict[str, str], datasets: list[str],
                    results: Path) -> dict[str, Any] | None:
    """CPU seconds per (dataset, variant), summed over seeds (``_run_costs``), the once-per-dataset jobs, and the
    share of all of it spent in training steps. Not counted: Snakemake itself and the aggregate and report jobs,
    which run after every number here was written."""
    if "train_seconds" not in df.columns:
        return None
    rows = []
    for dataset in datasets:
        for variant in order:
            sub = df[(df["dataset"] == dataset) & (df["variant"] == variant)]
            if not sub.empty:
                rows.append({"dataset": dataset, "label": labels[variant], **_share(_run_costs(sub))})
    if not rows:
        return None
    shared = _shared_costs(results, datasets)
    return {"rows": rows, "shared": shared,
            "total": _share(_run_costs(df), float(sum(r["total"] for r in shared)))}
