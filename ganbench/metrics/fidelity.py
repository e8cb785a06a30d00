"""FID, KID, IS and precision/recall from extracted features, computed by torch-fidelity's own functions.

Features of the real split are extracted once per dataset (the ``real_features`` rule) and reused by every run;
only the generated side is extracted per run. The functions below are torch-fidelity's metric kernels applied to
those cached features, so the numbers are exactly what ``torch_fidelity.calculate_metrics`` would report for the same
features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric


def fid_from_features(gen: torch.Tensor, real: torch.Tensor) -> float:
    stats_gen = fid_features_to_statistics(gen.double())
    stats_real = fid_features_to_statistics(real.double())
    return fid_statistics_to_metric(stats_gen, stats_real, verbose=False)["frechet_inception_distance"]


def fidelity_metrics(gen: dict[str, torch.Tensor], real: dict[str, torch.Tensor], options: dict[str, Any]
                     ) -> dict[str, float]:
    """``gen``/``real``: {"fid": N×D features, "isc": N×K logits}. Returns flat metric names → values."""
    n = min(len(gen["fid"]), len(real["fid"]))
    subset = min(int(options["kid_subset_size"]), n)
    seed = int(options["seed"])
    kid = kid_features_to_metric(gen["fid"], real["fid"], kid_subsets=int(options["kid_subsets"]),
                                 kid_subset_size=subset, rng_seed=seed, verbose=False)
    prc = prc_features_to_metric(gen["fid"], real["fid"], prc_neighborhood=int(options["prc_neighborhood"]),
                                 save_cpu_ram=True, verbose=False)
    isc = isc_features_to_metric(gen["isc"], splits=10, shuffle=True, rng_seed=seed)
    return {
        "fid": fid_from_features(gen["fid"], real["fid"]),
        "kid": kid["kernel_inception_distance_mean"],
        "kid_std": kid["kernel_inception_distance_std"],
        "is": isc["inception_score_mean"],
        "is_std": isc["inception_score_std"],
        "precision": prc["precision"],
        "recall": prc["recall"],
    }


def class_coverage(pred_labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """Classes the samples fall into (≥ 1 sample) and KL(sample class histogram ‖ uniform)."""
    counts = np.bincount(pred_labels, minlength=num_classes).astype(float)
    p = counts / counts.sum()
    nz = p > 0
    return {"classes_covered": int(nz.sum()), "class_kl": float(np.sum(p[nz] * np.log(p[nz] * num_classes)))}
