"""Mode coverage of 2-D Gaussian mixtures (ring8, grid25) by the PacGAN / VEEGAN protocol: ``mixture_samples``
samples (their 2500) per evaluation, the modes with a high-quality sample (within 3σ), the modes reached by
``mode_min_share`` of a uniform share, the high-quality percentage and the reverse KL (``ganbench.metrics.modes``),
for the final weights and for every training snapshot (``mode_curve``: the generator moving between modes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from ganbench.metrics.coverage import count_figure
from ganbench.metrics.modes import mixture_metrics
from ganbench.metrics.registry import Figure, Score, metric
from ganbench.report.budget import budget_figure

if TYPE_CHECKING:
    from ganbench.metrics.context import RunContext
    from ganbench.report.figures import FigureContext

CURVE_KEYS = ("step", "modes", "modes_reached", "hq_percent", "mode_counts")


def _mode_bars(ctx: FigureContext) -> Iterator[tuple[str, Path]]:
    from ganbench.report import plots

    if ctx.finite(ctx.ok, "modes"):
        yield ("Modes captured (bar: mean, line: sd over seeds)",
               plots.mode_bars(ctx.ok, ctx.dataset, ctx.present, ctx.num_classes, ctx.png("modes")))


def _mode_training(ctx: FigureContext) -> Iterator[tuple[str, Path]]:
    """The modes over training; the mode hopping of one seed per variant."""
    from ganbench.report import coverage, plots

    curves = coverage.curve_frame(ctx.records())
    if not curves.empty and curves["step"].nunique() > 1:
        yield ("Modes over training (captured and reached at each generator snapshot)",
               plots.modes_over_training(curves, ctx.dataset, ctx.png("modecurve"), ctx.present, ctx.num_classes))
    scatter = coverage.hopping_frame(ctx)
    if scatter is not None:
        yield ("Mode hopping: the samples of each training snapshot (one seed per variant, the best as in Samples; "
               "the same noise at every snapshot)",
               plots.snapshot_scatter(scatter, np.asarray(ctx.data.meta["centers"]), ctx.dataset, ctx.png("hopping"),
                                      ctx.present))


@metric("mixture", kinds=("points",), position=40,
        scores=(
            Score("modes", "Modes captured", "higher", "{:.1f}",
                  lambda o: f"mixture modes with ≥ 1 high-quality sample of {o['mixture_samples']:,} "
                            "(evaluation.mixture_samples; PacGAN / VEEGAN: 2500); one stray sample counts: see the "
                            "next table and the per-mode counts under Plots"),
            Score("modes_reached", "Modes reached", "higher", "{:.1f}",
                  lambda o: f"mixture modes holding ≥ {o['mode_min_share']:g} (evaluation.mode_min_share) of a "
                            "uniform share of the samples in high-quality samples (≥ share · N / K of N)"),
            Score("hq_percent", "High-quality %", "higher", "{:.1f}", "samples within 3σ of their nearest mode"),
            Score("reverse_kl", "Reverse KL", "lower", "{:.3f}", "KL(mode histogram ‖ uniform), high-quality samples"),
        ),
        records=("mode_counts", "mode_min_samples", "mixture_samples", "mode_min_share", "mode_curve"),
        figures=(Figure("modes", _mode_bars),
                 count_figure("mode_counts", "mode_min_samples", "high-quality samples per mode", False),
                 Figure("mode_curve", _mode_training), budget_figure("mixture")))
def mixture(ctx: RunContext) -> dict[str, Any]:
    from ganbench.metrics.context import generate, mixture_options, snapshots

    n, share = mixture_options(ctx.options)
    bs, seed = int(ctx.options["batch_size"]), int(ctx.options["seed"])
    centers, sigma = np.asarray(ctx.data.meta["centers"]), float(ctx.data.meta["sigma"])

    def measure(net: torch.nn.Module) -> dict[str, Any]:
        points = torch.cat(list(generate(net, ctx.generator[1], n, bs, seed, ctx.device))).cpu().numpy()
        return mixture_metrics(points, centers, sigma, min_share=share)

    out: dict[str, Any] = {**measure(ctx.generator[0]), "mixture_samples": n, "mode_min_share": share}
    curve = []
    for step, snap in snapshots(ctx.run_dir):  # the same noise at every snapshot: mode hopping shows as such
        final = step >= int(ctx.train["steps"])
        curve.append({"step": step, **(out if final else measure(ctx.load(snap)[0]))})
    out["mode_curve"] = [{k: c[k] for k in CURVE_KEYS} for c in curve]
    return out
