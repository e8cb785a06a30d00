"""What the report's page says around the numbers: per table the diverged/failed counts, the test's p-value and the
sentence on the seeds; the note on the significance test; the warning on diffuse 2-D generators; the list of runs
with their wall time; the banner when results are incomplete."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.config import Config
from ganbench.report.tables import Table
from ganbench.runs import run_path

DIFFUSE_HQ = 50.0  # mean high-quality % below which a mixture table says its generators are diffuse


def seconds(value: Any) -> float:
    """A number from the metrics table as a float; NaN when missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _failure_word(statuses: pd.Series) -> str:
    bad = set(statuses[statuses != "ok"])
    return "diverged" if bad <= {"diverged"} else "diverged/failed" if "diverged" in bad else "failed"


def table_view(table: Table, df: pd.DataFrame, seeds: int) -> dict[str, Any]:
    """The table plus what the template prints around it: per cell the diverged/failed count ("k/N diverged"),
    finished runs without a value and the test's p-value; under the table, the sentence on the seeds."""
    cells: dict[str, dict[str, dict[str, str]]] = {}
    n_ok: list[int] = []
    bad_total = missing_total = runs_total = 0
    for variant, _, row in table.rows:
        for dataset in table.datasets:
            cell = row.get(dataset)
            if cell is None:
                continue
            runs = df[(df["variant"] == variant) & (df["dataset"] == dataset)]
            ok = runs["status"] == "ok"
            bad = int((~ok).sum())
            missing = max(int(ok.sum()) - cell.n, 0)
            cells.setdefault(variant, {})[dataset] = {
                "bad": f"{bad}/{len(runs)} {_failure_word(runs['status'])}" if bad else "",
                "missing": f"{missing}/{len(runs)} without a value" if missing else "",
                "p": _p_text(cell),
            }
            n_ok.append(cell.n)
            bad_total, missing_total, runs_total = bad_total + bad, missing_total + missing, runs_total + len(runs)
    counted = f"{runs_total} run(s) in this table, {seeds} seed(s) configured"
    filled = [n for n in n_ok if n > 0]
    if filled:
        lo, hi = min(filled), max(filled)
        sentence = f"Means rest on {lo if lo == hi else f'{lo}–{hi}'} seed(s) per cell ({counted})."
        if len(filled) < len(n_ok):
            sentence += f" {len(n_ok) - len(filled)} cell(s) have no finished seed with a value."
    else:
        sentence = f"No run produced this metric ({counted})."
    if bad_total:
        sentence += (f" {bad_total} diverged or failed run(s) are counted in their cells and left out of every "
                     "mean, standard deviation, interval and test.")
    if missing_total:
        sentence += f" {missing_total} finished run(s) have no value for this metric and are left out likewise."
    return {"t": table, "cells": cells, "sentence": sentence}


def _p_text(cell: Any) -> str:
    """The hover text of a cell's test against the baseline."""
    c = cell.comparison
    if c is None:
        return ""
    floor = f"; the smallest p it can give for {cell.n} vs the baseline's seeds is {c.min_p:.3g}" if c.min_p else ""
    return f"{c.test} vs baseline: p = {c.p_value:.3g}{floor}"


def significance(seeds: int, alpha: float) -> dict[str, Any]:
    """What the tables' note says about the test for the configured seed count: its name, the smallest p it can
    give with every seed finished on both sides, and whether that can reach ``alpha`` at all."""
    from ganbench.report import stats

    floor = stats.min_attainable_p(seeds, seeds)
    exact = seeds >= 2 and stats.exact_feasible(seeds, seeds)
    test = stats.EXACT if exact or seeds < 2 else f"{stats.WELCH} (a {stats.RANDOMIZED} where a group is constant)"
    needed = next(n for n in range(2, 1000) if stats.min_attainable_p(n, n) < alpha)
    return {"seeds": seeds, "test": test, "min_p": floor, "reachable": math.isfinite(floor) and floor < alpha,
            "exact": exact, "needed": needed, "needed_p": stats.min_attainable_p(needed, needed)}


def mixture_quality_notes(table: Table, df: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    """Under the 2-D mixtures' "modes captured" table: which variants are diffuse generators, whose mode counts say
    where stray samples land rather than which modes they model (mean high-quality % below ``DIFFUSE_HQ``)."""
    if table.metric.name != "modes" or "hq_percent" not in df.columns:
        return []
    notes = []
    for dataset in table.datasets:
        ok = df[(df["dataset"] == dataset) & (df["status"] == "ok")]
        hq = pd.to_numeric(ok["hq_percent"], errors="coerce").groupby(ok["variant"]).mean().dropna()
        diffuse = [f"{labels[v]} ({hq[v]:.0f} %)" for v in labels if v in hq.index and hq[v] < DIFFUSE_HQ]
        if diffuse:
            notes.append(f"{dataset}: {len(diffuse)} of {len(hq)} configurations put under {DIFFUSE_HQ:.0f} % of their "
                         f"samples within 3σ of a mode: {', '.join(diffuse)}. These generators are diffuse, not "
                         "converged (a trained 2-D GAN puts nearly all its samples there, even when it collapses): "
                         "a mode they 'capture' may hold a few stray samples. Read the modes reached and the per-run "
                         "histograms under Plots beside the count.")
    return notes


def run_list(df: pd.DataFrame, results: Path, out: Path, labels: dict[str, str], order: list[str]) -> list[dict]:
    """Every run in config order, with its wall time (the training job's process, start-up included, + its own
    evaluation) and a link to its folder."""
    rank = {v: i for i, v in enumerate(order)}
    frame = df.assign(_rank=df["variant"].map(rank).fillna(len(order))).sort_values(["dataset", "_rank", "seed"])
    runs = []
    for row in frame.drop(columns="_rank").to_dict("records"):
        job = seconds(row.get("train_job_wall_seconds"))
        if not math.isfinite(job):
            job = seconds(row.get("total_train_job_seconds"))
        if not math.isfinite(job):
            job = float(np.nansum([seconds(row.get("setup_seconds")), seconds(row.get("train_seconds"))]))
        evaluate = seconds(row.get("eval_seconds"))
        message = row.get("message")
        runs.append({**row, "label": labels.get(row["variant"], row["variant"]),
                     "wall_seconds": job + (evaluate if math.isfinite(evaluate) else 0.0),
                     "message": message if isinstance(message, str) else "",
                     "link": os.path.relpath(run_path(results, row["dataset"], row["variant"], row["seed"]), out)})
    return runs


def incomplete(df: pd.DataFrame, config: Config, results: Path) -> dict[str, Any] | None:
    """What the banner at the top says when the results are incomplete: runs that failed (training or evaluation
    raised) and runs of the config with no metrics at all; None when every run finished (diverged runs are
    results, not gaps)."""
    expected = {(r.dataset, r.variant, r.seed) for r in config.runs()}
    present = set(zip(df["dataset"], df["variant"], df["seed"].astype(int)))
    missing = sorted(expected - present)
    failed = df[df["status"] == "failed"]
    lines = []
    if len(failed):
        lines.append(f"{len(failed)} of {len(expected)} runs failed.")
    if missing:
        shown = ", ".join(f"{d}/{v}/seed{s}" for d, v, s in missing[:5]) + (" …" if len(missing) > 5 else "")
        lines.append(f"{len(missing)} of {len(expected)} runs have no results ({shown}).")
    if not lines:
        return None
    retry = " ".join(str(run_path(results, d, v, s) / "train.json")
                     for d, v, s in zip(failed["dataset"], failed["variant"], failed["seed"]))
    return {"lines": lines, "retry": f"snakemake --cores all --forcerun {retry}" if retry else ""}
