"""The report's figures (seaborn on matplotlib's Agg backend), each written atomically as a PNG.

Every function takes ``order``, the variants in config order, so colours and panels follow the tables' rows.
Rows with a missing or infinite value are dropped before plotting; the caller skips a figure that would have no
finite value at all (``build._finite``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ganbench.io import atomic_open  # noqa: E402


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


LOSS_LINES = {"loss_d": "D loss", "loss_g": "G loss"}


def loss_curves(logs: pd.DataFrame, dataset: str, path: Path, order: list[str] | None = None,
                equilibria: dict[str, tuple[float | None, float | None]] | None = None) -> Path:
    """G and D losses per variant (mean line, band over seeds). ``equilibria``: per variant the (D, G) loss values
    where D cannot tell real from fake (each loss class's ``equilibrium``: 2 log 2 and log 2 for the non-saturating
    game, 2 log 2 and −log 2 for the minimax one, ...), drawn dashed in the colour of their curve; a loss without
    such a value (a Wasserstein critic) gets no line."""
    return _save(loss_grid(logs, dataset, order, equilibria).figure, path)


def loss_grid(logs: pd.DataFrame, dataset: str, order: list[str] | None = None,
              equilibria: dict[str, tuple[float | None, float | None]] | None = None) -> sns.FacetGrid:
    """The figure of ``loss_curves``, not yet saved: one panel per variant (``grid.axes_dict``)."""
    long = _long_log(logs, LOSS_LINES, "loss")
    cols = _order(long, order)
    hue_order = list(LOSS_LINES.values())
    palette = dict(zip(hue_order, sns.color_palette(n_colors=len(hue_order))))
    grid = sns.relplot(data=long, x="step", y="value", hue="loss", hue_order=hue_order, palette=palette,
                       col="variant", col_order=cols, kind="line", errorbar="sd", col_wrap=min(4, len(cols)),
                       height=2.4, aspect=1.2, facet_kws={"sharey": False})
    for variant, ax in grid.axes_dict.items():
        for name, value in zip(hue_order, (equilibria or {}).get(variant, (None, None))):
            if value is not None:
                ax.axhline(value, color=palette[name], ls="--", lw=0.8, alpha=0.8)
    grid.figure.suptitle(f"{dataset}: losses (dashed: each loss's value where D cannot tell real from fake, "
                         "D = ½; none for a Wasserstein critic)", y=1.02)
    return grid


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
    fig, ax = plt.subplots(figsize=(5, 3.2))
    _over_training(curves, "fid", order, ax)
    ax.set_title(f"{dataset}: FID over training (mean ± sd over seeds)")
    return _save(fig, path)


def _over_training(curves: pd.DataFrame, column: str, order: list[str] | None, ax, legend: bool = True) -> None:
    curves = _clean(curves, "step", column)
    sns.lineplot(data=curves, x="step", y=column, hue="variant", hue_order=_order(curves, order), errorbar="sd",
                 marker="o", ax=ax, legend=legend)


def modes_over_training(curves: pd.DataFrame, dataset: str, path: Path, order: list[str], num_modes: int) -> Path:
    """Modes captured (≥ 1 high-quality sample) and modes reached (≥ the share threshold) at each training
    snapshot per variant: mean line, ± sd band over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, column, title in zip(axes, ("modes", "modes_reached"), ("captured (≥ 1 sample)", "reached (≥ share)")):
        _over_training(curves, column, order, ax, legend=ax is axes[-1])
        ax.axhline(num_modes, color="grey", ls="--", lw=0.8)
        ax.set_ylim(-0.3, num_modes + 0.5)
        ax.set_title(f"modes {title}", fontsize=9)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(f"{dataset}: modes over training (mean ± sd over seeds)", y=1.02)
    return _save(fig, path)


def count_histograms(counts: pd.DataFrame, dataset: str, path: Path, order: list[str], what: str,
                     ranked: bool = False) -> Path:
    """One small panel per run (rows: variants in ``order``; columns: seeds): the samples of each mode or class
    (``counts``: variant, label, seed, index, count, threshold), on a log scale so that a mode backed by one
    sample shows. Bars at or above the run's "reached" threshold (dashed) are blue, covered but below it orange.
    ``ranked``: the counts sorted from most to fewest as a line (for 1000 stacked modes)."""
    variants = [v for v in order if v in set(counts["variant"])]
    seeds = sorted(set(counts["seed"]))
    fig, axes = plt.subplots(len(variants), len(seeds), figsize=(0.6 + 1.9 * len(seeds), 0.5 + 1.35 * len(variants)),
                             squeeze=False, sharex=True, sharey=True)
    top = max(1.0, float(counts["count"].max()))
    for i, variant in enumerate(variants):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            run = counts[(counts["variant"] == variant) & (counts["seed"] == seed)].sort_values("index")
            if run.empty:
                ax.set_axis_off()
                continue
            values, threshold = run["count"].to_numpy(), float(run["threshold"].iloc[0])
            if ranked:
                ax.plot(np.arange(len(values)), np.sort(values)[::-1], color="tab:blue", lw=1)
            else:
                colours = np.where(values >= threshold, "tab:blue", "tab:orange")
                ax.bar(run["index"], np.maximum(values, 1e-9), color=colours, width=0.8)
            ax.axhline(threshold, color="grey", ls="--", lw=0.7)
            ax.set_yscale("log")
            ax.set_ylim(0.5, top * 2)
            covered, reached = int((values > 0).sum()), int((values >= threshold).sum())
            ax.set_title(f"seed {seed}: {covered} ≥ 1, {reached} ≥ {threshold:g}", fontsize=7)
            ax.tick_params(labelsize=6)
        axes[i][0].set_ylabel(run_label(counts, variant), fontsize=7)
    fig.suptitle(f"{dataset}: {what} per run\n(log scale; dashed: the 'reached' threshold; orange: covered by "
                 "fewer samples than that)", y=1.0, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def run_label(frame: pd.DataFrame, variant: str, width: int = 18) -> str:
    """A variant's label from ``frame`` (column ``label``), shortened to ``width`` characters."""
    label = str(frame.loc[frame["variant"] == variant, "label"].iloc[0]) if "label" in frame else variant
    return label if len(label) <= width else label[: width - 1] + "…"


def snapshot_scatter(panels: pd.DataFrame, centers: np.ndarray, dataset: str, path: Path, order: list[str]) -> Path:
    """Mode hopping: generated points at each training snapshot (columns: a variant's first, second, ... snapshot,
    its step in the title) for one seed per variant (rows). ``panels``: variant, label, seed, step, x, y, mode (the
    nearest mode's index for a high-quality point, −1 otherwise). High-quality points take their mode's colour, the
    rest are grey; mode centres are crosses."""
    variants = [v for v in order if v in set(panels["variant"])]
    columns = max(panels.groupby("variant")["step"].nunique())
    fig, axes = plt.subplots(len(variants), columns, figsize=(0.4 + 1.8 * columns, 0.4 + 1.8 * len(variants)),
                             squeeze=False)
    lim = float(np.abs(centers).max()) * 1.5 + 0.5
    cmap = plt.get_cmap("tab10" if len(centers) <= 10 else "tab20")
    for i, variant in enumerate(variants):
        steps = sorted(set(panels.loc[panels["variant"] == variant, "step"]))
        for ax in axes[i][len(steps):]:
            ax.set_axis_off()
        for j, step in enumerate(steps):
            ax = axes[i][j]
            sub = panels[(panels["variant"] == variant) & (panels["step"] == step)]
            low = sub[sub["mode"] < 0]
            high = sub[sub["mode"] >= 0]
            ax.scatter(low["x"], low["y"], s=1, color="lightgrey", linewidths=0)
            ax.scatter(high["x"], high["y"], s=1.5, c=[cmap(int(m) % cmap.N) for m in high["mode"]], linewidths=0)
            ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="black", linewidths=0.6)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if not sub.empty:
                modes = int(high["mode"].nunique())
                ax.set_title(f"step {step}: {modes} modes, {100 * len(high) / len(sub):.0f} % HQ", fontsize=6.5)
        seed = panels.loc[panels["variant"] == variant, "seed"].iloc[0]
        axes[i][0].set_ylabel(f"{run_label(panels, variant)}\n(seed {seed})", fontsize=7)
    fig.suptitle(f"{dataset}: samples at each training snapshot\n(coloured: high-quality, by mode; grey: the "
                 "rest)", y=1.0, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def metric_strip(df: pd.DataFrame, metric: str, label: str, dataset: str, order: list[str], path: Path,
                 what: str = "seeds") -> Path:
    """One metric over seeds (or the rows ``what`` names) per variant: a box plot with every row as a dot."""
    df = _clean(df, metric)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(order), 3.2))
    with warnings.catch_warnings():  # seaborn 0.13 still passes matplotlib ≥ 3.10's deprecated ``vert``
        warnings.filterwarnings("ignore", message="vert: bool", category=matplotlib.MatplotlibDeprecationWarning)
        sns.boxplot(data=df, x="variant", y=metric, order=order, color="white", ax=ax, fliersize=0)
    sns.stripplot(data=df, x="variant", y=metric, order=order, ax=ax, size=5)
    ax.set_title(f"{dataset}: {label} over {what}")
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
