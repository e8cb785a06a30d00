"""The report's hyperparameter-search section (``ganbench.search``): per searched (dataset, variant) the selected
setting and every phase-1 setting's validation values. The budget curves and the phase-1 distributions are figures
declared through the metric registry (``ganbench.report.budget.budget_figure``), shown under each dataset's Plots.

Everything here is read from the selections' records, ``results/search/<dataset>/<variant>/selected.json``, which
hold validation values only: the final table of the report (the ordinary ablation tables) is the test split's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganbench.config import Config
from ganbench.io import read_json
from ganbench.metrics.registry import score
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


def search_section(config: Config, results: Path, labels: dict[str, str]) -> dict[str, Any] | None:
    """The section's content, None when no variant searches. A selection not yet made is listed as missing."""
    pairs = config.searched()
    if not pairs:
        return None
    selected, phase1, missing = [], [], []
    for dataset, variant in pairs:
        path = search_path(results, dataset, variant) / "selected.json"
        record = _read(path)
        if record is None:
            missing.append(f"{dataset}/{variant}")
            continue
        spec = score(record["metric"])
        fmt = spec.format
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
        phase1.append({"dataset": dataset, "variant": variant, "label": labels.get(variant, variant),
                       "metric": spec.label, "direction": spec.direction, "seeds": record["phase1_seeds"],
                       "rows": rows})
    return {"selected": selected, "phase1": phase1, "missing": missing}
