"""The report's plots, per dataset: the training curves every run logs (G and D losses, D's outputs), then the
figures each metric declares (``Metric.figures`` in ``ganbench.metrics.registry``), in the metrics' order. A plot
without one finite value to show is left out; a figure that cannot read a run's files says so in the log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from ganbench.config import Config
from ganbench.errors import GanbenchError
from ganbench.metrics import registry
from ganbench.report import plots
from ganbench.runs import run_path

log = logging.getLogger(__name__)

# What makes a dataset's or run's file unreadable for a figure or picture: missing, truncated or of another form.
READ_ERRORS = (GanbenchError, OSError, ValueError, KeyError)


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def finite(df: pd.DataFrame, *columns: str) -> bool:
    """True when every column exists and at least one row has a finite value in all of them."""
    if df.empty or any(c not in df.columns for c in columns):
        return False
    values = df[list(columns)].apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
    return bool(values.notna().all(axis=1).any())


def ranked(runs: pd.DataFrame) -> pd.DataFrame:
    """A (dataset, variant)'s runs best first: finished runs by FID (images) or modes (mixtures); all runs when
    none finished."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return runs
    key, ascending = ("fid", True) if runs["kind"].iloc[0] == "image" else ("modes", False)
    return ok.sort_values(key, ascending=ascending, na_position="last") if key in ok.columns else ok


@dataclass
class FigureContext:
    """One dataset's runs as a metric's figures see them: ``runs`` (its rows of metrics.csv), ``ok`` (the finished
    ones), ``present`` (variants in config order), each run's metrics.json (``records``), the prepared data (``data``,
    None when it cannot be loaded) and where the PNGs go (``png``)."""

    dataset: str
    runs: pd.DataFrame
    present: list[str]
    config: Config
    results: Path
    img: Path
    _metrics: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "ok"]

    @property
    def kind(self) -> str:
        return str(self.runs["kind"].iloc[0])

    @property
    def options(self) -> dict[str, Any]:
        return self.config.evaluation

    @property
    def labels(self) -> dict[str, str]:
        return {v: self.config.label(v) for v in self.present}

    @property
    def num_classes(self) -> int:
        return self.config.dataset_builder(self.dataset).num_classes

    finite = staticmethod(finite)

    def png(self, stem: str) -> Path:
        return self.img / f"{stem}_{self.dataset}.png"

    def run_dir(self, row: dict[str, Any]) -> Path:
        return run_path(self.results, self.dataset, row["variant"], row["seed"])

    def metrics_of(self, row: dict[str, Any]) -> dict[str, Any]:
        key = (row["variant"], int(row["seed"]))
        if key not in self._metrics:
            self._metrics[key] = read_json(self.run_dir(row) / "metrics.json") or {}
        return self._metrics[key]

    def records(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(run row with its label, metrics.json) of every finished run."""
        return [({**row, "label": self.labels.get(row["variant"], row["variant"])}, self.metrics_of(row))
                for row in self.ok.to_dict("records")]

    def metric_frame(self, key: str) -> pd.DataFrame:
        """The points of list ``key`` (e.g. ``fid_curve``) of every run's metrics.json, one row per point, with the
        run's variant and seed; ±inf as NaN."""
        rows = [{"dataset": self.dataset, "variant": row["variant"], "seed": row["seed"], **point}
                for row in self.runs.to_dict("records") for point in self.metrics_of(row).get(key, [])]
        frame = pd.DataFrame(rows)
        return frame.replace([np.inf, -np.inf], np.nan) if not frame.empty else frame

    @cached_property
    def data(self) -> Any:
        from ganbench.data import load_prepared

        try:
            return load_prepared(self.results / "data" / f"{self.dataset}.npz")
        except READ_ERRORS as exc:
            log.warning("report: %s: %s", self.dataset, exc)
            return None

    def best_seed(self, variant: str) -> int | None:
        runs = self.ok[self.ok["variant"] == variant]
        return None if runs.empty else int(ranked(runs).iloc[0]["seed"])


def logs(results: Path, df: pd.DataFrame) -> pd.DataFrame:
    """Every run's log.csv, stacked; ±inf (a diverging run's last rows) become NaN so plots skip them."""
    frames = []
    for row in df.itertuples():
        path = run_path(results, row.dataset, row.variant, row.seed) / "log.csv"
        if path.is_file():
            lg = pd.read_csv(path)
            lg["variant"], lg["seed"], lg["dataset"] = row.variant, row.seed, row.dataset
            frames.append(lg)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).replace([np.inf, -np.inf], np.nan)


def equilibria(config: Config, variants: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """Per variant, its loss's declared (D, G) values where D cannot tell real from fake (``GANLoss.equilibrium``);
    none for the non-adversarial models, whose logged losses are reconstruction and KL terms."""
    from ganbench.losses import LOSSES
    from ganbench.models import ARCHITECTURES
    from ganbench.train.models import TRAINING_MODELS

    out: dict[str, tuple[float | None, float | None]] = {}
    for variant in variants:
        settings = config.settings(variant)
        family = ARCHITECTURES.get(settings["architecture"]["name"])
        adversarial = TRAINING_MODELS.get(family.training_model).adversarial
        out[variant] = LOSSES.get(settings["loss"]["name"]).equilibrium if adversarial else (None, None)
    return out


def _training(ctx: FigureContext, lg: pd.DataFrame) -> Iterator[tuple[str, Path]]:
    if finite(lg, "loss_d") or finite(lg, "loss_g"):
        yield ("G and D losses (mean line, band: ± sd over seeds; dashed: the values where D cannot tell real from "
               "fake)", plots.loss_curves(lg, ctx.dataset, ctx.png("losses"), ctx.present,
                                           equilibria(ctx.config, ctx.present)))
    if finite(lg, "d_real") or finite(lg, "d_fake"):
        yield ("D(x) and D(G(z)) (mean line, band: ± sd over seeds)",
               plots.d_outputs(lg, ctx.dataset, ctx.png("dout"), ctx.present))


def figures(df: pd.DataFrame, config: Config, results: Path, out: Path, datasets: list[str],
            order: list[str], rel: Callable[[Path], str]) -> list[dict[str, str]]:
    """Every dataset's figures as {dataset, title, src} (``rel``: a PNG's path as the page links it)."""
    img = out / "img"
    found: list[dict[str, str]] = []
    all_logs = logs(results, df)
    for dataset in datasets:
        sub = df[df["dataset"] == dataset]
        present = [v for v in order if v in set(sub["variant"])]
        ctx = FigureContext(dataset, sub, present, config, results, img)
        lg = all_logs[all_logs["dataset"] == dataset] if not all_logs.empty else all_logs
        made = list(_training(ctx, lg))
        for family in registry.ordered():
            if ctx.kind in family.kinds:
                for figure in family.figures:
                    made += list(figure.make(ctx))
        found += [{"dataset": dataset, "title": title, "src": rel(path)} for title, path in made]
    return found
