"""The report's hyperparameter-search section (``ganbench.search``): per searched (dataset, variant) the selected
setting, every phase-1 setting's validation values, and per dataset the budget curves (``ganbench.report.budget``)
and the distribution of phase-1 values per variant (box and one dot per setting).

Everything here is read from the selections' records, ``results/search/<dataset>/<variant>/selected.json``, which
hold validation values only: the final table of the report (the ordinary ablation tables) is the test split's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.config import Config
from ganbench.io import read_json
from ganbench.report import budget, plots
from ganbench.report.metrics import METRICS
from ganbench.runs import search_path


def _value(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def describe(values: dict[str, Any]) -> str:
    """``optimizer.lr_g = 0.001879, d_steps = 5``: a setting's drawn values, in the space's key order."""
    return ", ".join(f"{k} = {_value(v)}" for k, v in values.items()) or "the variant's own settings"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def search_section(config: Config, results: Path, out: Path, order: list[str], labels: dict[str, str],
                   n_boot: int = 2000, alpha: float = 0.05) -> dict[str, Any] | None:
    """The section's content, None when no variant searches. A selection not yet made is listed as missing."""
    pairs = config.searched()
    if not pairs:
        return None
    selected, phase1, missing = [], [], []
    points = []  # one row per eligible phase-1 setting: dataset, variant, value (mean over its seeds)
    metric = None
    for dataset, variant in pairs:
        path = search_path(results, dataset, variant) / "selected.json"
        record = _read(path)
        if record is None:
            missing.append(f"{dataset}/{variant}")
            continue
        metric = metric or record["metric"]
        spec = METRICS.get(record["metric"])

        def fmt(v: float | None, spec=spec) -> str:
            return "—" if v is None or not math.isfinite(v) else spec.fmt.format(v)

        candidates = record["candidates"]
        eligible = [c for c in candidates if c["eligible"]]
        selected.append({"dataset": dataset, "variant": variant, "label": labels.get(variant, variant),
                         "h": record["selected"], "setting": describe(record["values"]) if record["selected"]
                         is not None else record.get("fallback") or "", "value": fmt(record["value"]),
                         "metric": spec.label, "eligible": len(eligible), "settings": len(candidates),
                         "seeds": ", ".join(map(str, record["phase1_seeds"]))})
        rows = []
        for c in candidates:
            rows.append({"h": c["h"], "setting": describe(c["values"]), "mean": fmt(c["mean"]),
                         "seeds": [fmt(c["seeds"].get(str(s))) for s in record["phase1_seeds"]],
                         "problems": "; ".join(c["problems"]), "selected": c["h"] == record["selected"]})
            if c["eligible"]:
                points.append({"dataset": dataset, "variant": variant, "value": float(c["mean"])})
        phase1.append({"dataset": dataset, "variant": variant, "label": labels.get(variant, variant),
                       "metric": spec.label, "direction": spec.direction, "seeds": record["phase1_seeds"],
                       "rows": rows})
    figures = _figures(pd.DataFrame(points, columns=["dataset", "variant", "value"]), metric, out, order,
                       n_boot, alpha)
    return {"selected": selected, "phase1": phase1, "missing": missing, "figures": figures,
            "n_boot": n_boot, "alpha": alpha}


def _figures(points: pd.DataFrame, metric: str | None, out: Path, order: list[str], n_boot: int, alpha: float
             ) -> list[dict[str, str]]:
    from ganbench.search import higher_is_better

    figures = []
    if metric is None or points.empty:
        return figures
    label = METRICS.get(metric).label
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    for dataset, sub in points.groupby("dataset", sort=False):
        present = [v for v in order if v in set(sub["variant"])]
        curves = budget.budget_frame(sub, higher_is_better(metric), n_boot, alpha)
        path = budget.budget_plot(curves, dataset, label, present, img / f"budget_{dataset}.png", alpha)
        figures.append({"dataset": dataset, "src": path.relative_to(out).as_posix(),
                        "title": f"Budget curves: expected best validation {label} over k settings drawn at random "
                                 f"from phase 1 (closed form; band: {100 * (1 - alpha):.0f}% over {n_boot} "
                                 "bootstrap resamples of the settings)"})
        path = plots.metric_strip(sub.rename(columns={"value": metric}), metric, f"validation {label}", dataset,
                                  present, img / f"phase1_{dataset}.png", what="settings")
        figures.append({"dataset": dataset, "src": path.relative_to(out).as_posix(),
                        "title": f"Phase 1: validation {label} of every setting (box; one dot per setting, the mean "
                                 "over its phase-1 seeds)"})
    return figures
