"""What the report adds for cumulative variant chains and style-based generators (Karras et al. 2019):

- ``effective_settings``: every variant's settings as it trains them, after its ``extends`` chain, flattened to
  ``key.path: value``, with the keys it changes over its parent (or over ``defaults``) marked: the rows of
  Table 1 are deltas, and the table of settings says what each row actually ran.
- ``mixing_table``: Table 2 in the paper's layout, per dataset: rows are the variants of ``report.mixing_table``
  (default: every style-based variant) with their mixing-regularization probability, columns the number of latents
  mixed at test time (1-4, ``fid_mix1`` … ``fid_mix4``). Cells are those of the ablation tables (``build_table``:
  mean ± std over seeds, bootstrap CI, the best mean per column bold), and † marks a significant difference from
  the table's first row in the same column.
- ``ppl_notes``: which distance the perceptual path lengths were computed with (LPIPS or the domain classifier).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ganbench.config import Config
from ganbench.metrics.mixing import MAX_LATENTS, MIXED_FID_METRICS, style_options
from ganbench.report.tables import build_table

HIDDEN = ("name", "label", "datasets", "extends")  # display keys, not settings
GROUPED = frozenset(MIXED_FID_METRICS)  # shown in the mixing table instead of one ablation table each


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``a.b.c`` → leaf value (lists stay whole)."""
    if not isinstance(value, dict) or (prefix and not value):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _text(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def effective_settings(config: Config) -> list[dict[str, Any]]:
    """Per variant in config order: its label, parent, the settings it changes over the parent (or the defaults)
    and all of its effective settings, each as ``(key, value text, changed here)``."""
    rows = []
    for variant in config.variant_names:
        raw = next(v for v in config.raw["variants"] if v["name"] == variant)
        parent = raw.get("extends")
        base = config.settings(parent) if parent else config.defaults
        mine = flatten({k: v for k, v in config.settings(variant).items() if k not in HIDDEN})
        before = flatten({k: v for k, v in base.items() if k not in HIDDEN})
        changed = {k for k, v in mine.items() if before.get(k, object()) != v}
        removed = sorted(k for k in before if k not in mine and k.split(".")[0] == "tricks")
        rows.append({"variant": variant, "label": config.label(variant), "extends": parent,
                     "changes": [(k, _text(mine[k])) for k in mine if k in changed]
                     + [(k, "removed") for k in removed],
                     "settings": [(k, _text(v), k in changed) for k, v in mine.items()]})
    return rows


def mixing_rows(config: Config) -> list[str]:
    """The variants of the mixing table: ``report.mixing_table``, or every style-based variant."""
    chosen = config.report.get("mixing_table")
    return list(chosen) if chosen else [v for v in config.variant_names if style_options(config.settings(v))]


def mixing_table(df: pd.DataFrame, config: Config, datasets: list[str], n_boot: int) -> dict[str, Any] | None:
    """Table 2 per dataset (see the module text); None without mixed FIDs."""
    rows = mixing_rows(config)
    if not rows or not any(m in df.columns for m in MIXED_FID_METRICS):
        return None
    variants = [(v, config.label(v)) for v in rows]
    by_k = {k: build_table(df, f"fid_mix{k}", variants, datasets, rows[0], n_boot)
            for k in range(1, MAX_LATENTS + 1)}
    by_k = {k: t for k, t in by_k.items() if t is not None}
    if not by_k:
        return None
    first = next(iter(by_k.values()))
    out = []
    for dataset in first.datasets:
        lines = []
        for variant, label in variants:
            options = style_options(config.settings(variant)) or {}
            cells = {k: dict((v, c) for v, _, c in t.rows)[variant].get(dataset) for k, t in by_k.items()}
            lines.append({"variant": variant, "label": label, "mixing": 100 * float(options.get("mixing", 0.0)),
                          "cells": cells, "best": [k for k, t in by_k.items() if t.best.get(dataset) == variant]})
        out.append({"dataset": dataset, "rows": lines})
    return {"latents": list(by_k), "tables": out, "baseline": config.label(rows[0]), "fmt": first.fmt}


def ppl_notes(df: pd.DataFrame) -> list[str]:
    """Under the PPL table: the distance each dataset's path lengths used."""
    if "ppl_similarity" not in df.columns:
        return []
    words = {"lpips-vgg16": "LPIPS (VGG16, torch-fidelity's lpips-vgg16), the paper's distance",
             "ganbench-classifier": "the domain classifier's unit-normalised features (squared distance; LPIPS "
                                    "weights were not available offline), not comparable with the paper's LPIPS "
                                    "values"}
    notes = []
    for dataset, used in df.dropna(subset=["ppl_similarity"]).groupby("dataset")["ppl_similarity"]:
        names = sorted(set(used))
        notes.append(f"{dataset}: perceptual path length measured with "
                     + "; ".join(words.get(n, n) for n in names) + ".")
    return notes
