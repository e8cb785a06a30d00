"""Ablation tables in the form of the StyleGAN paper's Table 1.

Rows are variants in config order (label as given, e.g. "B + spectral norm"), columns are datasets, a cell is
mean ± std over seeds with n, the best mean per column is bold, a dagger marks a significant difference from the
baseline row (Welch's t-test, p < alpha), and diverged/failed runs are counted in the cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ganbench.report.metrics import METRICS, SCALE, MetricSpec
from ganbench.report.stats import Cell, summarize, welch_p


@dataclass
class Table:
    metric: MetricSpec
    datasets: list[str]
    rows: list[tuple[str, str, dict[str, Cell | None]]]  # (variant, label, dataset → cell)
    best: dict[str, str] = field(default_factory=dict)  # dataset → best variant
    floor: dict[str, float] = field(default_factory=dict)  # dataset → real-vs-real value

    def fmt(self, value: float) -> str:
        return "—" if value is None or not math.isfinite(value) else self.metric.fmt.format(value)


def build_table(df: pd.DataFrame, metric: str, variants: list[tuple[str, str]], datasets: list[str],
                baseline: str, n_boot: int, floors: dict[str, dict] | None = None) -> Table | None:
    spec = METRICS.get(metric)
    if metric not in df.columns:
        return None
    scale = SCALE.get(metric, 1.0)
    kinds = df.groupby("dataset")["kind"].first().to_dict()
    used = [d for d in datasets if kinds.get(d) == spec.kind]
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
            cell = summarize((ok[metric] * scale).tolist(), failed=int((runs["status"] != "ok").sum()),
                             n_boot=n_boot)
            if variant != baseline:
                base = df[(df["variant"] == baseline) & (df["dataset"] == dataset) & (df["status"] == "ok")]
                cell.p_value = welch_p((ok[metric] * scale).dropna(), (base[metric] * scale).dropna())
            cells[dataset] = cell
        rows.append((variant, label, cells))
    table = Table(spec, used, rows)
    for dataset in used:
        scored = [(v, c[dataset].mean) for v, _, c in rows if c.get(dataset) and c[dataset].n]
        if scored:
            pick = max if spec.higher_is_better else min
            table.best[dataset] = pick(scored, key=lambda t: t[1])[0]
        if floors and dataset in floors and metric in floors[dataset]:
            table.floor[dataset] = floors[dataset][metric] * scale
    return table

