"""The report's mode-coverage figures beyond the tables: what the counts rest on, and how they move in training.

- Per-mode / per-class sample counts (``COUNTS``): every run's histogram from its metrics.json (``mode_counts`` of
  a 2-D mixture, ``class_counts`` of a labelled image dataset, ``stacked_counts`` of a stacked one), with the
  "reached" threshold, so a reader sees when a "covered" mode rests on one sample.
- Modes over training (2-D mixtures): the ``mode_curve`` of every run (modes captured and reached at each
  generator snapshot, measured by the evaluation on the same noise as the final weights).
- Mode hopping (2-D mixtures): the samples of each snapshot of one seed per variant (the best, as in Samples),
  drawn here from ``snapshots/`` on the CPU with the evaluation's noise and sample count, coloured by mode.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ganbench.report import plots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountKind:
    counts: str  # metrics.json key: the list of per-mode counts
    threshold: str  # metrics.json key: the count a mode needs to be "reached"
    what: str  # the figure's words
    ranked: bool  # too many modes for bars: counts sorted, as a line


COUNTS = (CountKind("mode_counts", "mode_min_samples", "high-quality samples per mode", False),
          CountKind("class_counts", "class_min_samples", "samples per class (domain classifier)", False),
          CountKind("stacked_counts", "stacked_min_samples", "samples per stacked mode, most to fewest", True))


def _metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


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

    from ganbench.metrics.evaluate import generate, load_generator, mixture_options, snapshots
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


def figures(runs: pd.DataFrame, run_dir: Callable[[Any], Path], labels: dict[str, str], dataset: str,
            order: list[str], img: Path, data: Any, options: dict[str, Any], best_seed: Callable[[str], int | None],
            num_modes: int, add: Callable[[str, str, Path], None]) -> None:
    """Add this dataset's coverage figures through ``add(dataset, title, path)``: the count histograms of its
    finished runs (``runs``: metrics rows of one dataset), and for a 2-D mixture the modes over training and the
    mode-hopping scatter (``data``: its Prepared record, or None when it could not be loaded)."""
    ok = runs[runs["status"] == "ok"]
    records = [({**row, "label": labels.get(row["variant"], row["variant"])}, _metrics(run_dir(row)))
               for row in ok.to_dict("records")]
    for kind in COUNTS:
        frame = count_frame(records, kind)
        if not frame.empty:
            add(dataset, f"{kind.what[0].upper()}{kind.what[1:]}, per run: how many samples stand behind each "
                "covered mode (dashed: the 'reached' threshold)",
                plots.count_histograms(frame, dataset, img / f"{kind.counts}_{dataset}.png", order, kind.what,
                                       kind.ranked))
    curves = curve_frame(records)
    if not curves.empty and curves["step"].nunique() > 1:
        add(dataset, "Modes over training (captured and reached at each generator snapshot)",
            plots.modes_over_training(curves, dataset, img / f"modecurve_{dataset}.png", order, num_modes))
    if data is None or getattr(data, "kind", None) != "points":
        return
    frames = []
    for variant in order:
        seed = best_seed(variant)
        if seed is None:
            continue
        try:
            points = snapshot_points(run_dir({"dataset": dataset, "variant": variant, "seed": seed}), data, options)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("report: snapshots of %s seed %s: %s", variant, seed, exc)
            continue
        if not points.empty:
            frames.append(points.assign(variant=variant, label=labels.get(variant, variant), seed=seed))
    if frames:
        add(dataset, "Mode hopping: the samples of each training snapshot (one seed per variant, the best as in "
            "Samples; the same noise at every snapshot)",
            plots.snapshot_scatter(pd.concat(frames, ignore_index=True), np.asarray(data.meta["centers"]), dataset,
                                   img / f"hopping_{dataset}.png", order))
