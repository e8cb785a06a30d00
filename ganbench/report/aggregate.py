"""Collect every run's metrics.json into one tidy table: one row per run, one column per scalar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from ganbench.io import atomic_open

ID_COLUMNS = ["dataset", "variant", "seed", "status"]


def load_metrics(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def collect(paths: Iterable[str | Path], out_csv: str | Path) -> pd.DataFrame:
    rows = [{k: v for k, v in m.items() if not isinstance(v, (list, dict))} for m in load_metrics(paths)]
    table = pd.DataFrame(rows)
    first = [c for c in ID_COLUMNS if c in table.columns]
    table = table[first + [c for c in table.columns if c not in first]]
    with atomic_open(out_csv, "w") as handle:
        table.to_csv(handle, index=False)
    return table
