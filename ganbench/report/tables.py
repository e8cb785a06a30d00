"""Ablation tables in the form of the StyleGAN paper's Table 1.

Rows are variants in config order (label as given, e.g. "B + spectral norm"), columns are datasets, a cell is
mean ± std over seeds with n, the best mean per column is bold (highest, lowest or closest to the real-vs-real
value, as the metric says; none for a metric without a direction), a dagger marks a significant difference from the
baseline row (``stats.compare``: an exact permutation test for seed counts up to 10), and diverged/failed runs are
counted in the cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ganbench.metrics.registry import Score, score
from ganbench.report.stats import Cell, compare, summarize


@dataclass
class Table:
    metric: Score
    description: str  # the metric's description for the evaluation options the runs used
    datasets: list[str]
    rows: list[tuple[str, str, dict[str, Cell | None]]]  # (variant, label, dataset → cell)
    best: dict[str, str] = field(default_factory=dict)  # dataset → best variant
    floor: dict[str, float] = field(default_factory=dict)  # dataset → real-vs-real value

    def fmt(self, value: float) -> str:
        return self.metric.format(value)


def build_table(df: pd.DataFrame, metric: str, variants: list[tuple[str, str]], datasets: list[str],
                baseline: str, n_boot: int, floors: dict[str, dict] | None = None,
                options: dict[str, Any] | None = None) -> Table | None:
    """The table of one declared metric score (``ganbench.metrics.registry``) over the datasets of its kinds; None
    when no run has a column for it. ``options``: the evaluation section, for the description (default: the
    defaults)."""
    spec = score(metric)
    if options is None:
        from ganbench.config import evaluation_defaults

        options = evaluation_defaults()
    description = spec.describe(options)
    if metric not in df.columns:
        return None
    kinds = df.groupby("dataset")["kind"].first().to_dict()
    used = [d for d in datasets if kinds.get(d) in spec.kinds]
    if not used:
        return None
    rows = []
    for variant, label in variants:
        cells: dict[str, Cell | None] = {}
        for dataset in used:
            runs = df[(df["variant"] == variant) & (df["dataset"] == dataset)]
            if runs.empty:
                cells[dataset] = None
                continue
            ok = runs[runs["status"] == "ok"]
            cell = summarize(ok[metric].astype(float).tolist(), failed=int((runs["status"] != "ok").sum()),
                             n_boot=n_boot)
            if variant != baseline:
                base = df[(df["variant"] == baseline) & (df["dataset"] == dataset) & (df["status"] == "ok")]
                cell.comparison = compare(_finite(ok[metric].astype(float)), _finite(base[metric].astype(float)))
            cells[dataset] = cell
        rows.append((variant, label, cells))
    table = Table(spec, description, used, rows)
    for dataset in used:
        if floors and dataset in floors and metric in floors[dataset]:
            table.floor[dataset] = floors[dataset][metric]
        scored = [(v, c[dataset].mean) for v, _, c in rows if c.get(dataset) and c[dataset].n]
        best = _best(scored, spec.better, table.floor.get(dataset))
        if best is not None:
            table.best[dataset] = best
    return table


def _finite(values: pd.Series) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _best(scored: list[tuple[str, float]], better: str, floor: float | None) -> str | None:
    """The variant with the best mean in one column: the highest, the lowest, or the closest to the real-vs-real
    ``floor`` (None without a floor); None for a metric without a direction or a column without a value."""
    if not scored or better == "none" or (better == "floor" and (floor is None or not math.isfinite(floor))):
        return None
    key = {"higher": lambda t: -t[1], "lower": lambda t: t[1], "floor": lambda t: abs(t[1] - floor)}[better]
    return min(scored, key=key)[0]

