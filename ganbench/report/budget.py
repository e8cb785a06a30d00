"""Budget curves of a hyperparameter search (Lucic et al., "Are GANs Created Equal?", NeurIPS 2018, Fig. 4 view):
how good a variant gets for a given tuning budget.

For a budget of k = 1..N settings drawn at random without replacement from the N settings that phase 1 trained
(``ganbench.search``), the curve is the expected best validation value of the k, in closed form: for the values
sorted best first, v(1), ..., v(N),

    P(best of k draws = v(i)) = C(N-i, k-1) / C(N, k),     E[best of k] = sum_i C(N-i, k-1) / C(N, k) · v(i).

The band is the (alpha/2, 1 - alpha/2) percentile range of the same expectation over bootstrap resamples of the N
values. ``budget_curve`` is the computation, ``budget_plot`` the figure (one curve per variant), and
``budget_figure(family)`` declares it, with the phase-1 values per variant (box and strip), as a figure of a metric
family in the metric registry (``ganbench.metrics.registry``): a dataset's Plots then show them for every searched
variant whose selection metric is a score of that family.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ganbench.metrics.registry import Figure
    from ganbench.report.figures import FigureContext


def budget_weights(n: int) -> np.ndarray:
    """W[k-1, i-1] = P(the best of k draws without replacement from n sorted values is the i-th) =
    C(n-i, k-1) / C(n, k), for k, i = 1..n."""
    w = np.zeros((n, n))
    for k in range(1, n + 1):
        total = math.comb(n, k)
        for i in range(1, n - k + 2):
            w[k - 1, i - 1] = math.comb(n - i, k - 1) / total
    return w


def _best_first(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Sorted along the last axis, the best value first."""
    v = np.sort(values, axis=-1)
    return v[..., ::-1] if higher_is_better else v


def expected_best(values: Sequence[float], higher_is_better: bool = False) -> np.ndarray:
    """The expected best of k settings drawn at random without replacement from ``values``, for k = 1..len."""
    v = _best_first(np.asarray(values, dtype=float), higher_is_better)
    return budget_weights(len(v)) @ v


def budget_curve(values: Sequence[float], higher_is_better: bool = False, n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """The budget curve of one variant's phase-1 values (non-finite ones left out): ``k``, ``expected``
    (``expected_best``) and the ``low``/``high`` percentiles (alpha/2, 1 - alpha/2) of the same expectation over
    ``n_boot`` bootstrap resamples of the values (with replacement, each of the same size)."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        empty = np.zeros(0)
        return {"k": empty.astype(int), "expected": empty, "low": empty, "high": empty}
    resamples = _best_first(np.random.default_rng(seed).choice(v, size=(n_boot, n), replace=True), higher_is_better)
    boot = resamples @ budget_weights(n).T  # (n_boot, n): each resample's expected best for k = 1..n
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return {"k": np.arange(1, n + 1), "expected": expected_best(v, higher_is_better), "low": low, "high": high}


def budget_frame(values: pd.DataFrame, higher_is_better: bool, n_boot: int = 2000, alpha: float = 0.05
                 ) -> pd.DataFrame:
    """The curves of every variant of ``values`` (columns variant, value: one row per phase-1 setting) as one
    tidy frame: variant, k, expected, low, high."""
    frames = []
    for variant, sub in values.groupby("variant", sort=False):
        curve = budget_curve(sub["value"].astype(float).tolist(), higher_is_better, n_boot, alpha)
        frames.append(pd.DataFrame({"variant": variant, **curve}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["variant", "k", "expected", "low", "high"])


def budget_plot(curves: pd.DataFrame, dataset: str, label: str, order: list[str], path: Path,
                alpha: float = 0.05) -> Path:
    """One line per variant (expected best validation value for k settings), its bootstrap band shaded."""
    from matplotlib.ticker import MaxNLocator

    from ganbench.report.plots import _save, plt, sns

    fig, ax = plt.subplots(figsize=(5, 3.4))
    palette = dict(zip(order, sns.color_palette(n_colors=max(len(order), 1))))
    for variant in [v for v in order if v in set(curves["variant"])]:
        c = curves[curves["variant"] == variant]
        ax.plot(c["k"], c["expected"], marker="o", ms=3, color=palette[variant], label=variant)
        ax.fill_between(c["k"], c["low"], c["high"], color=palette[variant], alpha=0.2, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("budget: settings drawn (k)")
    ax.set_ylabel(f"expected best validation {label}")
    ax.set_title(f"{dataset}: budget curves (band: {100 * (1 - alpha):.0f}% bootstrap)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def phase1_values(ctx: "FigureContext", family: str) -> tuple[str | None, pd.DataFrame]:
    """The selection metric and the phase-1 values (variant, value: a setting's mean over its phase-1 seeds; the
    eligible settings only) of ``ctx.dataset``'s searched variants whose selection metric belongs to ``family``,
    read from their selections (results/search/<dataset>/<variant>/selected.json: validation values only)."""
    from ganbench.metrics.registry import family_of
    from ganbench.report.figures import read_json
    from ganbench.runs import search_path

    rows, metric = [], None
    for dataset, variant in ctx.config.searched():
        search = ctx.config.search(variant)
        if dataset != ctx.dataset or variant not in ctx.present or family_of(search.metric).name != family:
            continue
        record = read_json(search_path(ctx.results, dataset, variant) / "selected.json")
        if record is None:
            continue
        metric = metric or record["metric"]
        rows += [{"variant": variant, "value": float(c["mean"])} for c in record["candidates"]
                 if c["eligible"] and record["metric"] == metric]
    return metric, pd.DataFrame(rows, columns=["variant", "value"])


def budget_figure(family: str) -> "Figure":
    """The budget curves and the phase-1 distributions, as a figure declaration of metric family ``family``."""
    from ganbench.metrics.registry import Figure

    def make(ctx: "FigureContext") -> Iterator[tuple[str, Path]]:
        from ganbench.metrics.registry import score
        from ganbench.report import plots
        from ganbench.search import higher_is_better

        metric, values = phase1_values(ctx, family)
        if metric is None or values.empty:
            return
        label = score(metric).label
        present = [v for v in ctx.present if v in set(values["variant"])]
        n_boot, alpha = int(ctx.config.report["bootstrap"]), float(ctx.config.report["alpha"])
        curves = budget_frame(values, higher_is_better(metric), n_boot, alpha)
        yield (f"Budget curves: expected best validation {label} over k settings drawn at random from a search's "
               f"phase 1 (closed form; band: {100 * (1 - alpha):.0f}% over {n_boot} bootstrap resamples of the "
               "settings)", budget_plot(curves, ctx.dataset, label, present, ctx.png("budget"), alpha))
        yield (f"Search phase 1: validation {label} of every setting (box; one dot per setting, the mean over its "
               "phase-1 seeds)", plots.metric_strip(values.rename(columns={"value": metric}), metric,
                                                    f"validation {label}", ctx.dataset, present, ctx.png("phase1"),
                                                    what="settings"))

    return Figure("budget", make)
