"""The report's figures (seaborn on matplotlib's Agg backend), each written atomically as a PNG.

Every function takes ``order``, the variants in config order, so colours and panels follow the tables' rows.
Rows with a missing or infinite value are dropped before plotting; the caller skips a figure that would have no
finite value at all (``build._finite``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ganbench.io import atomic_open  # noqa: E402

LOG2 = math.log(2.0)


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _clean(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The rows whose ``columns`` are all finite numbers."""
    values = df[list(columns)].apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
    return df.assign(**{c: values[c] for c in columns}).dropna(subset=list(columns))


def _order(df: pd.DataFrame, order: list[str] | None) -> list[str]:
    present = set(df["variant"])
    return [v for v in (order or sorted(present)) if v in present]


def _long_log(logs: pd.DataFrame, columns: dict[str, str], name: str) -> pd.DataFrame:
    long = logs.melt(id_vars=["variant", "seed", "step"], value_vars=[c for c in columns if c in logs],
                     var_name=name)
    long[name] = long[name].map(columns)
    return _clean(long, "step", "value")


def loss_curves(logs: pd.DataFrame, dataset: str, path: Path, order: list[str] | None = None) -> Path:
    """G and D losses per variant (mean line, band over seeds) with the equilibrium lines of the BCE game:
    at D = ½ the non-saturating G loss is log 2 ≈ 0.693 and each of D's two terms is log 2 (sum 2 log 2)."""
    long = _long_log(logs, {"loss_d": "D loss", "loss_g": "G loss"}, "loss")
    cols = _order(long, order)
    grid = sns.relplot(data=long, x="step", y="value", hue="loss", col="variant", col_order=cols, kind="line",
                       errorbar="sd", col_wrap=min(4, len(cols)), height=2.4, aspect=1.2,
                       facet_kws={"sharey": False})
    for ax in grid.axes.flat:
        ax.axhline(LOG2, color="grey", ls="--", lw=0.8)
        ax.axhline(2 * LOG2, color="grey", ls=":", lw=0.8)
    grid.figure.suptitle(f"{dataset}: losses (dashed: log 2 ≈ 0.693, dotted: 2 log 2)", y=1.02)
    return _save(grid.figure, path)


def d_outputs(logs: pd.DataFrame, dataset: str, path: Path, order: list[str] | None = None) -> Path:
    """Mean sigmoid(D) on real and on generated batches per variant (mean line, band over seeds); ½ dashed."""
    long = _long_log(logs, {"d_real": "D(x)", "d_fake": "D(G(z))"}, "output")
    cols = _order(long, order)
    grid = sns.relplot(data=long, x="step", y="value", hue="output", col="variant", col_order=cols, kind="line",
                       errorbar="sd", col_wrap=min(4, len(cols)), height=2.4, aspect=1.2)
    for ax in grid.axes.flat:
        ax.axhline(0.5, color="grey", ls="--", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
    grid.figure.suptitle(f"{dataset}: mean sigmoid(D) on real and generated batches", y=1.02)
    return _save(grid.figure, path)


def fid_over_training(curves: pd.DataFrame, dataset: str, path: Path, order: list[str] | None = None) -> Path:
    """FID at each training snapshot per variant: mean line, ± sd band over seeds."""
    curves = _clean(curves, "step", "fid")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(data=curves, x="step", y="fid", hue="variant", hue_order=_order(curves, order), errorbar="sd",
                 marker="o", ax=ax)
    ax.set_title(f"{dataset}: FID over training (mean ± sd over seeds)")
    return _save(fig, path)


def metric_strip(df: pd.DataFrame, metric: str, label: str, dataset: str, order: list[str], path: Path) -> Path:
    """One metric over seeds per variant: a box plot with every seed as a dot."""
    df = _clean(df, metric)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(order), 3.2))
    with warnings.catch_warnings():  # seaborn 0.13 still passes matplotlib ≥ 3.10's deprecated ``vert``
        warnings.filterwarnings("ignore", message="vert: bool", category=matplotlib.MatplotlibDeprecationWarning)
        sns.boxplot(data=df, x="variant", y=metric, order=order, color="white", ax=ax, fliersize=0)
    sns.stripplot(data=df, x="variant", y=metric, order=order, ax=ax, size=5)
    ax.set_title(f"{dataset}: {label} over seeds")
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def precision_recall(df: pd.DataFrame, dataset: str, path: Path, order: list[str] | None = None) -> Path:
    """Precision against recall, one dot per seed, coloured by variant."""
    df = _clean(df, "precision", "recall")
    fig, ax = plt.subplots(figsize=(4, 3.4))
    sns.scatterplot(data=df, x="recall", y="precision", hue="variant", hue_order=_order(df, order), s=40, ax=ax)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{dataset}: precision vs recall (one point per seed)")
    return _save(fig, path)


def mode_bars(df: pd.DataFrame, dataset: str, order: list[str], num_modes: int, path: Path) -> Path:
    """Modes captured per variant (bar: mean, line: sd over seeds), the number of modes dashed."""
    df = _clean(df, "modes")
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(order), 3.2))
    sns.barplot(data=df, x="variant", y="modes", order=order, errorbar="sd", ax=ax)
    ax.axhline(num_modes, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0, num_modes + 0.5)
    ax.set_title(f"{dataset}: modes captured (of {num_modes})")
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)
