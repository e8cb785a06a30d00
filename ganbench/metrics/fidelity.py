"""FID and IS by torch-fidelity's own metric functions; KID and precision/recall equal to torch-fidelity's, with
their real-side parts cached, and density/coverage computed together with precision/recall.

Features of the real split are extracted once per dataset (the ``real_features`` rule) and reused by every run,
together with what depends on the real side only (``real_caches``: the FID statistics and the real k-NN radii of
precision/recall and of density/coverage); only the generated side is extracted and compared per run. The numbers
are what ``torch_fidelity.calculate_metrics`` reports for the same features:

- FID: ``metric_fid.fid_features_to_statistics`` / ``fid_statistics_to_metric`` (statistics in float64);
- KID: the values of ``metric_kid.kid_features_to_metric`` (unbiased MMD², cubic polynomial kernel, the same
  random subsets), computed by ``ganbench.metrics.kid`` with the real×real kernel sum of every subset cached per
  dataset (``kid_real``) and the per-run kernels evaluated more cheaply; equal to float32 rounding (tests);
- IS: ``metric_isc.isc_features_to_metric`` (10 shuffled splits);
- precision/recall (Kynkäänniemi et al. 2019, k = ``prc_neighborhood``): the values of
  ``metric_prc.prc_features_to_metric``, computed by ``ganbench.metrics.manifold.prdc`` from the cached real radii
  and one generated×real distance pass shared with density/coverage, instead of torch-fidelity's recomputation of
  the real×real distances and two generated×real passes per run; tests check that the two are equal
  (``tests/test_metrics.py``; see ``manifold`` for the one caveat, pairs within a float32 ulp of a radius);
- density/coverage (Naeem et al. 2020, k = ``dc_neighborhood``), which torch-fidelity does not provide:
  ``ganbench.metrics.manifold.prdc``, on the same features and in the same pass as precision/recall.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from ganbench.metrics.kid import kid as kid_metric
from ganbench.metrics.kid import real_sums
from ganbench.metrics.manifold import knn_radii, prdc
from ganbench.metrics.modes import histogram_coverage, label_counts, min_samples, reached
from ganbench.metrics.registry import Figure, Option, Score, metric
from ganbench.report.budget import budget_figure

if TYPE_CHECKING:
    from ganbench.metrics.context import FloorContext, RealContext, RunContext
    from ganbench.report.figures import FigureContext


def fid_statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """torch-fidelity's FID statistics (mean, covariance) in float64, as tensors so they can be cached with
    ``torch.save`` and loaded with ``weights_only=True``."""
    from torch_fidelity.metric_fid import fid_features_to_statistics  # (torch-fidelity is imported where used:
    # its import costs about a second, which an evaluate job on 2-D points need not pay)

    stats = fid_features_to_statistics(features.double().cpu())
    return {k: torch.from_numpy(np.asarray(v)) for k, v in stats.items()}


def fid_from_features(gen: torch.Tensor, real: torch.Tensor,
                      real_stats: dict[str, torch.Tensor] | None = None) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (``real_stats``: cached statistics of
    ``real``)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    stats = [{k: v.numpy() for k, v in s.items()} for s in (fid_statistics(gen), real_stats or fid_statistics(real))]
    return float(fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"])


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020) -> dict[str, float]:
    """{"is", "is_std"}: mean and std over ``splits`` shuffled chunks of exp E_x KL(p(y|x) ‖ p(y))."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return {"is": float(out["inception_score_mean"]), "is_std": float(out["inception_score_std"])}


def kid_settings(n_gen: int, n_real: int, options: dict[str, Any]) -> dict[str, int]:
    """The KID subsets for these sample counts: ``kid_subsets`` of ``kid_subset_size`` (capped at the smaller
    count), drawn with the evaluation seed."""
    return {"size": min(int(options["kid_subset_size"]), n_gen, n_real), "subsets": int(options["kid_subsets"]),
            "seed": int(options["seed"])}


def kid(gen: torch.Tensor, real: torch.Tensor, options: dict[str, Any],
        cache: dict[str, Any] | None = None) -> dict[str, float]:
    """{"kid", "kid_std"}: torch-fidelity's KID (``kid_features_to_metric``'s subsets and estimate; see
    ``ganbench.metrics.kid``); ``cache``: the real side's ``kid_real`` (``real_caches``)."""
    return kid_metric(gen, real, **kid_settings(len(gen), len(real), options), cache=cache)


def neighbourhoods(options: dict[str, Any]) -> tuple[int, int]:
    """(k of precision/recall, k of density/coverage)."""
    return int(options["prc_neighborhood"]), int(options["dc_neighborhood"])


def real_caches(real: dict[str, torch.Tensor], options: dict[str, Any]) -> dict[str, Any]:
    """What every run's comparison with ``real`` can reuse: the FID statistics, the real k-NN radii (k → radii)
    of precision/recall (``prc_radii``) and of density/coverage (``dc_radii``) from one real×real pass, and the
    real kernel sums of the KID subsets of a run's ``num_samples`` (``kid_real``)."""
    prc_k, dc_k = neighbourhoods(options)
    radii = knn_radii(real["prc"], [prc_k, dc_k])
    n_gen = int(options["num_samples"])  # what every run generates (its first num_samples are compared)
    return {"fid_stats": fid_statistics(real["fid"]), "prc_radii": {prc_k: radii[prc_k]},
            "dc_radii": {dc_k: radii[dc_k]},
            "kid_real": real_sums(real["fid"], n_gen, **kid_settings(n_gen, len(real["fid"]), options))}


def cached_radii(real: dict[str, Any]) -> dict[int, torch.Tensor]:
    """The real k-NN radii that ``real`` holds, k → radii (a real.pt from before ``prc_radii`` holds only
    ``dc_radii``: ``prdc`` computes the rest)."""
    return {**real.get("dc_radii", {}), **real.get("prc_radii", {})}


def fidelity_metrics(gen: dict[str, torch.Tensor], real: dict[str, Any], options: dict[str, Any]
                     ) -> dict[str, float]:
    """``gen``/``real``: {"fid": N×D features, "isc": N×K logits, "prc": N×D' features}; ``real`` may also hold
    ``real_caches``. Returns flat metric names → values (the scores and spreads of the ``fidelity`` metric)."""
    prc_k, dc_k = neighbourhoods(options)
    return {
        "fid": fid_from_features(gen["fid"], real["fid"], real.get("fid_stats")),
        **kid(gen["fid"], real["fid"], options, real.get("kid_real")),
        **inception_score(gen["isc"], seed=int(options["seed"])),
        **prdc(gen["prc"], real["prc"], prc_k, dc_k, cached_radii(real)),
    }


def class_coverage(pred_labels: np.ndarray, num_classes: int, min_share: float = 0.1) -> dict[str, Any]:
    """Classes the samples fall into (≥ 1 sample), KL(sample class histogram ‖ uniform), the classes reached by
    ``min_share`` of a uniform share (``ganbench.metrics.modes``), the samples per class and the count a class
    needs to be reached."""
    covered, kl = histogram_coverage(pred_labels, num_classes)
    counts = label_counts(pred_labels, num_classes)
    return {"classes_covered": covered, "class_kl": kl, "classes_reached": reached(counts, len(pred_labels), min_share),
            "class_counts": counts.tolist(), "class_min_samples": min_samples(len(pred_labels), num_classes, min_share)}


# ------------------------------------------------------------------------------------------- declaration
def _fidelity_floor(ctx: FloorContext) -> dict[str, Any]:
    return fidelity_metrics(ctx.generated, ctx.real, ctx.options)


def _fidelity_real(ctx: RealContext) -> dict[str, Any]:
    return real_caches(ctx.real, ctx.options)


def _fidelity_figures(ctx: FigureContext) -> Iterator[tuple[str, Path]]:
    from ganbench.report import plots

    curves = ctx.metric_frame("fid_curve")
    if ctx.finite(curves, "step", "fid"):
        yield ("FID over training (mean line, band: ± sd over seeds)",
               plots.fid_over_training(curves, ctx.dataset, ctx.png("fidcurve"), ctx.present))
    if ctx.finite(ctx.ok, "fid"):
        yield ("Final FID over seeds (box and one dot per seed)",
               plots.metric_strip(ctx.ok, "fid", "FID", ctx.dataset, ctx.present, ctx.png("fidstrip")))
    if ctx.finite(ctx.ok, "precision", "recall"):
        yield ("Precision vs recall (one dot per seed)",
               plots.precision_recall(ctx.ok, ctx.dataset, ctx.png("prc"), ctx.present))


@metric("fidelity", kinds=("image",), needs=("features",), position=10,
        scores=(
            Score("fid", "FID (final)", "lower", "{:.2f}",
                  lambda o: f"Fréchet distance of {o['feature_extractor']} features of {o['num_samples']} samples, "
                            "final generator (lower is better)"),
            Score("fid_best", "FID (best over training)", "lower", "{:.2f}",
                  "lowest FID over the training snapshots"),
            Score("kid", "KID", "lower", "{:.3g}",
                  lambda o: "kernel inception distance (unbiased MMD², cubic kernel) of the features, "
                            f"{o['kid_subsets']} subsets of {o['kid_subset_size']}"),
            Score("is", "IS", "higher", "{:.2f}", "Inception Score with the extractor's logits"),
            Score("precision", "Precision", "higher", "{:.3f}",
                  lambda o: f"Kynkäänniemi et al. 2019, k = {o['prc_neighborhood']}"),
            Score("recall", "Recall", "higher", "{:.3f}",
                  lambda o: f"Kynkäänniemi et al. 2019, k = {o['prc_neighborhood']}"),
            Score("density", "Density", "higher", "{:.3f}",
                  lambda o: f"Naeem et al. 2020, k = {o['dc_neighborhood']}: real k-NN balls a sample falls in, ÷ k "
                            "(≈ 1 when the distributions match; > 1 when samples crowd dense real regions)"),
            Score("coverage", "Coverage", "higher", "{:.3f}",
                  lambda o: f"Naeem et al. 2020, k = {o['dc_neighborhood']}: fraction of real k-NN balls that hold a "
                            "generated sample"),
        ),
        records=("kid_std", "is_std", "extractor", "prc_extractor", "fid_curve", "snapshot_fid_cpu_seconds"),
        nan_records=("kid_std", "is_std"),
        floor=_fidelity_floor, real=_fidelity_real,
        figures=(Figure("fidelity", _fidelity_figures), budget_figure("fidelity")),
        options=(
            Option("kid_subset_size", 1000, {
                "type": "integer", "minimum": 2,
                "description": "Samples per KID subset (capped at the samples there are)."}),
            Option("kid_subsets", 100, {"type": "integer", "minimum": 1,
                                        "description": "KID subsets; KID is their mean, kid_std their spread."}),
            Option("prc_neighborhood", 3, {"type": "integer", "minimum": 1,
                                           "description": "k of precision/recall (Kynkäänniemi et al.)"}),
            Option("dc_neighborhood", 5, {"type": "integer", "minimum": 1,
                                          "description": "k of density/coverage (Naeem et al.)"}),
        ))
def fidelity(ctx: RunContext) -> dict[str, Any]:
    """FID, KID, IS, precision/recall, density/coverage of the final weights; FID of every training snapshot (best
    and final are reported, since GANs often collapse late)."""
    from ganbench.metrics.context import snapshots
    from ganbench.metrics.extractors import FID, PRC

    out: dict[str, Any] = fidelity_metrics(ctx.generated, ctx.real, ctx.options)
    out.update({"extractor": ctx.pipeline.main_name, "prc_extractor": ctx.pipeline.roles[PRC][0]})
    curve = []
    c0 = time.process_time()
    for step, snap in snapshots(ctx.run_dir):
        if step >= int(ctx.train["steps"]):  # the final weights: already measured
            curve.append({"step": step, "fid": out["fid"]})
            continue
        model, _ = ctx.load(snap)
        feats = ctx.pipeline(ctx.samples(model, ctx.n), roles=[FID])[FID]
        curve.append({"step": step, "fid": fid_from_features(feats, ctx.real[FID], ctx.real.get("fid_stats"))})
    out["fid_curve"] = curve
    out["snapshot_fid_cpu_seconds"] = time.process_time() - c0  # of this run's eval_cpu_seconds: earlier snapshots
    out["fid_best"] = min([c["fid"] for c in curve] + [out["fid"]])
    return out
