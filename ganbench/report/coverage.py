"""The data of the report's mode-coverage figures beyond the tables (the metrics declare the figures: ``classes``,
``stacked_modes`` and ``mixture``): what the counts rest on, and how they move in training.

- Per-mode / per-class sample counts (``count_frame``): every run's histogram from its metrics.json (``mode_counts``
  of a 2-D mixture, ``class_counts`` of a labelled image dataset, ``stacked_counts`` of a stacked one), with the
  "reached" threshold, so a reader sees when a "covered" mode rests on one sample.
- Modes over training (2-D mixtures): the ``mode_curve`` of every run (modes captured and reached at each
  generator snapshot, measured by the evaluation on the same noise as the final weights).
- Mode hopping (2-D mixtures): the samples of each snapshot of one seed per variant (the best, as in Samples),
  drawn here from ``snapshots/`` on the CPU with the evaluation's noise and sample count, coloured by mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountKind:
    counts: str  # metrics.json key: the list of per-mode counts
    threshold: str  # metrics.json key: the count a mode needs to be "reached"
    what: str  # the figure's words
    ranked: bool  # too many modes for bars: counts sorted, as a line


def count_frame(records: list[tuple[dict[str, Any], dict[str, Any]]], kind: CountKind) -> pd.DataFrame:
    """Long table (variant, label, seed, index, count, threshold) of one count kind over (run row, metrics)."""
    rows = []
    for run, metrics in records:
        counts = metrics.get(kind.counts)
        if not isinstance(counts, list) or kind.threshold not in metrics:
            continue
        rows += [{"variant": run["variant"], "label": run["label"], "seed": int(run["seed"]), "index": i, "count": c,
                  "threshold": float(metrics[kind.threshold])} for i, c in enumerate(counts)]
    return pd.DataFrame(rows)


def curve_frame(records: list[tuple[dict[str, Any], dict[str, Any]]]) -> pd.DataFrame:
    rows = [{"variant": run["variant"], "seed": int(run["seed"]), **{k: point.get(k) for k in
             ("step", "modes", "modes_reached", "hq_percent")}}
            for run, metrics in records for point in metrics.get("mode_curve") or []]
    return pd.DataFrame(rows)


def snapshot_points(run_dir: Path, data: Any, options: dict[str, Any]) -> pd.DataFrame:
    """The evaluation's samples of every generator snapshot of one 2-D run: step, x, y, and mode (the nearest
    mode of a high-quality point, −1 for the others)."""
    import torch

    from ganbench.metrics.context import generate, load_generator, mixture_options, snapshots
    from ganbench.metrics.modes import assign_modes

    n, _ = mixture_options(options)
    centers, sigma = np.asarray(data.meta["centers"]), float(data.meta["sigma"])
    frames = []
    for step, snap in snapshots(run_dir):
        net, z_dim = load_generator(run_dir, data, torch.device("cpu"), snap)
        points = torch.cat(list(generate(net, z_dim, n, int(options["batch_size"]), int(options["seed"]),
                                         torch.device("cpu")))).numpy()
        nearest, hq = assign_modes(points, centers, sigma)
        frames.append(pd.DataFrame({"step": step, "x": points[:, 0], "y": points[:, 1],
                                    "mode": np.where(hq, nearest, -1)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def hopping_frame(ctx: Any) -> pd.DataFrame | None:
    """The snapshot samples of the best seed of each variant of a 2-D mixture (``ctx``: a report FigureContext),
    one frame with the variant, its label and the seed; None when there is nothing to draw."""
    data = ctx.data
    if data is None or getattr(data, "kind", None) != "points":
        return None
    frames = []
    for variant in ctx.present:
        seed = ctx.best_seed(variant)
        if seed is None:
            continue
        try:
            points = snapshot_points(ctx.run_dir({"variant": variant, "seed": seed}), data, ctx.options)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("report: snapshots of %s seed %s: %s", variant, seed, exc)
            continue
        if not points.empty:
            frames.append(points.assign(variant=variant, label=ctx.labels.get(variant, variant), seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else None
