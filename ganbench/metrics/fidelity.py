"""FID, KID, IS and precision/recall by torch-fidelity's own metric functions; density/coverage beside them.

Features of the real split are extracted once per dataset (the ``real_features`` rule) and reused by every run,
together with what depends on the real side only (``real_caches``: the FID statistics and the real k-NN radii of
density/coverage); only the generated side is extracted and compared per run. The numbers are exactly what
``torch_fidelity.calculate_metrics`` reports for the same features:

- FID: ``metric_fid.fid_features_to_statistics`` / ``fid_statistics_to_metric`` (statistics in float64);
- KID: ``metric_kid.kid_features_to_metric`` (unbiased MMD², cubic polynomial kernel, random subsets);
- IS: ``metric_isc.isc_features_to_metric`` (10 shuffled splits);
- precision/recall: ``metric_prc.prc_features_to_metric`` (Kynkäänniemi et al. 2019, k = ``prc_neighborhood``);
- density/coverage (Naeem et al. 2020, k = ``dc_neighborhood``), which torch-fidelity does not provide:
  ``ganbench.metrics.manifold``, on the same features as precision/recall.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from ganbench.metrics.manifold import knn_radii, manifold_metrics
from ganbench.metrics.modes import histogram_coverage

FIDELITY_METRICS = ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage")


def fid_statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """torch-fidelity's FID statistics (mean, covariance) in float64, as tensors so they can be cached with
    ``torch.save`` and loaded with ``weights_only=True``."""
    stats = fid_features_to_statistics(features.double().cpu())
    return {k: torch.from_numpy(np.asarray(v)) for k, v in stats.items()}


def fid_from_features(gen: torch.Tensor, real: torch.Tensor,
                      real_stats: dict[str, torch.Tensor] | None = None) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (``real_stats``: cached statistics of
    ``real``)."""
    stats = [{k: v.numpy() for k, v in s.items()} for s in (fid_statistics(gen), real_stats or fid_statistics(real))]
    return float(fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"])


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020) -> dict[str, float]:
    """{"is", "is_std"}: mean and std over ``splits`` shuffled chunks of exp E_x KL(p(y|x) ‖ p(y))."""
    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return {"is": float(out["inception_score_mean"]), "is_std": float(out["inception_score_std"])}


def kid(gen: torch.Tensor, real: torch.Tensor, options: dict[str, Any]) -> dict[str, float]:
    """{"kid", "kid_std"}: torch-fidelity's KID over ``kid_subsets`` random subsets of ``kid_subset_size``
    (capped at the smaller sample count)."""
    subset = min(int(options["kid_subset_size"]), len(gen), len(real))
    out = kid_features_to_metric(gen.cpu(), real.cpu(), kid_subsets=int(options["kid_subsets"]),
                                 kid_subset_size=subset, rng_seed=int(options["seed"]), verbose=False)
    return {"kid": float(out["kernel_inception_distance_mean"]), "kid_std": float(out["kernel_inception_distance_std"])}


def precision_recall(gen: torch.Tensor, real: torch.Tensor, k: int) -> dict[str, float]:
    out = prc_features_to_metric(gen.float().cpu(), real.float().cpu(), prc_neighborhood=k, save_cpu_ram=True,
                                 verbose=False)
    return {"precision": float(out["precision"]), "recall": float(out["recall"])}


def neighbourhoods(options: dict[str, Any]) -> tuple[int, int]:
    """(k of precision/recall, k of density/coverage)."""
    return int(options["prc_neighborhood"]), int(options["dc_neighborhood"])


def real_caches(real: dict[str, torch.Tensor], options: dict[str, Any]) -> dict[str, Any]:
    """What every run's comparison with ``real`` can reuse: the FID statistics and the real k-NN radii of
    density/coverage."""
    return {"fid_stats": fid_statistics(real["fid"]),
            "dc_radii": knn_radii(real["prc"], [neighbourhoods(options)[1]])}


def fidelity_metrics(gen: dict[str, torch.Tensor], real: dict[str, Any], options: dict[str, Any]
                     ) -> dict[str, float]:
    """``gen``/``real``: {"fid": N×D features, "isc": N×K logits, "prc": N×D' features}; ``real`` may also hold
    ``real_caches``. Returns flat metric names → values (``FIDELITY_METRICS``)."""
    prc_k, dc_k = neighbourhoods(options)
    return {
        "fid": fid_from_features(gen["fid"], real["fid"], real.get("fid_stats")),
        **kid(gen["fid"], real["fid"], options),
        **inception_score(gen["isc"], seed=int(options["seed"])),
        **precision_recall(gen["prc"], real["prc"], prc_k),
        **manifold_metrics(gen["prc"], real["prc"], dc_k, real.get("dc_radii")),
    }


def class_coverage(pred_labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """Classes the samples fall into (≥ 1 sample) and KL(sample class histogram ‖ uniform)."""
    covered, kl = histogram_coverage(pred_labels, num_classes)
    return {"classes_covered": covered, "class_kl": kl}
