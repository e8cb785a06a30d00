"""Class and mode coverage of labelled image datasets, by the domain classifier's labels of the samples.

- ``classes``: classes covered (≥ 1 sample) and reached (≥ ``mode_min_share`` of a uniform share), the KL of the
  class histogram to uniform, and the samples per class;
- ``stacked_modes``: the same for the 1000 modes of a stacked dataset (one base class per channel: 100·r + 10·g
  + b), on ``stacked_samples`` samples (VEEGAN / PacGAN count modes on 26 000).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ganbench.metrics.fidelity import class_coverage
from ganbench.metrics.modes import stacked_mode_metrics
from ganbench.metrics.registry import Figure, Score, metric

if TYPE_CHECKING:
    from ganbench.metrics.context import FloorContext, RunContext
    from ganbench.report.figures import FigureContext


def count_figure(counts: str, threshold: str, what: str, ranked: bool):
    """A figure of every finished run's histogram of ``counts`` (a metrics.json list) with the count ``threshold``
    a mode needs to be reached (ganbench.report.coverage)."""

    def make(ctx: FigureContext) -> Iterator[tuple[str, Path]]:
        from ganbench.report import coverage, plots

        frame = coverage.count_frame(ctx.records(), coverage.CountKind(counts, threshold, what, ranked))
        if not frame.empty:
            yield (f"{what[0].upper()}{what[1:]}, per run: how many samples stand behind each covered mode "
                   "(dashed: the 'reached' threshold)",
                   plots.count_histograms(frame, ctx.dataset, ctx.png(counts), ctx.present, what, ranked))

    return Figure(counts, make)


def _share(ctx: RunContext | FloorContext) -> float:
    return float(ctx.options["mode_min_share"])


def _classes_floor(ctx: FloorContext) -> dict[str, Any]:
    return class_coverage(ctx.labels[:ctx.n], ctx.data.num_classes, _share(ctx))


@metric("classes", kinds=("image",), needs=("classifier", "classes"), position=20,
        scores=(
            Score("classes_covered", "Classes covered", "higher", "{:.1f}",
                  "classes with ≥ 1 generated sample (domain classifier); one stray sample counts: see the next "
                  "table and the per-class counts under Plots"),
            Score("classes_reached", "Classes reached", "higher", "{:.1f}",
                  lambda o: f"classes holding ≥ {o['mode_min_share']:g} (evaluation.mode_min_share) of a uniform "
                            "share of the samples (≥ share · N / K of N; domain classifier)"),
            Score("class_kl", "Class KL", "lower", "{:.3f}", "KL(class histogram ‖ uniform)"),
        ),
        records=("class_counts", "class_min_samples"), floor=_classes_floor,
        figures=(count_figure("class_counts", "class_min_samples", "samples per class (domain classifier)", False),))
def classes(ctx: RunContext) -> dict[str, Any]:
    return class_coverage(ctx.labels[:ctx.n], ctx.data.num_classes, _share(ctx))


def _stacked_floor(ctx: FloorContext) -> dict[str, Any]:
    return stacked_mode_metrics(ctx.labels, ctx.data.num_classes, _share(ctx))


@metric("stacked_modes", kinds=("image",), needs=("classifier", "stacked"), position=30,
        scores=(
            Score("stacked_modes", "Modes of 1000 (stacked)", "higher", "{:.1f}",
                  lambda o: "Stacked MNIST modes (100·r + 10·g + b, the domain classifier per channel) with ≥ 1 of "
                            f"{o['stacked_samples']:,} (evaluation.stacked_samples) samples"),
            Score("stacked_modes_reached", "Modes of 1000 reached (stacked)", "higher", "{:.1f}",
                  lambda o: f"stacked modes holding ≥ {o['mode_min_share']:g} (evaluation.mode_min_share) of a "
                            "uniform share of the samples (≥ share · N / 1000 of N)"),
            Score("stacked_kl", "Mode KL (stacked)", "lower", "{:.3f}",
                  "KL(1000-mode histogram ‖ uniform), stacked datasets"),
        ),
        records=("stacked_counts", "stacked_min_samples", "stacked_samples"), floor=_stacked_floor,
        figures=(count_figure("stacked_counts", "stacked_min_samples",
                              "samples per stacked mode, most to fewest", True),))
def stacked_modes(ctx: RunContext) -> dict[str, Any]:
    return {**stacked_mode_metrics(ctx.labels, ctx.data.num_classes, _share(ctx)), "stacked_samples": len(ctx.labels)}
