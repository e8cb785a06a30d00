"""Mode coverage: 2-D Gaussian mixtures (PacGAN's definitions) and label histograms (classes, Stacked MNIST modes).

Mixtures (Lin et al. 2018, Sec. 5; after VEEGAN): each sample is assigned to its nearest mode; it is *high quality*
when it lies within 3σ of that mode. A mode is *captured* when at least one high-quality sample is assigned to it
(``min_count`` raises that bar). *Reverse KL* is KL(P_gen ‖ P_true) between the histogram of high-quality samples
over the modes and the true (uniform) mode distribution: 0 when every mode gets an equal share, log(K) when one
mode takes all.

Labelled images: ``histogram_coverage`` counts the classes the domain classifier puts at least one sample in and
KL(histogram ‖ uniform). On Stacked MNIST / Stacked Fashion-MNIST the classifier labels each channel, giving one of
1000 modes (``100·r + 10·g + b``); ``stacked_mode_metrics`` reports the modes captured out of 1000 and the KL, on
``evaluation.stacked_samples`` samples (26 000 by default, as in VEEGAN and PacGAN).
"""

from __future__ import annotations

import numpy as np


def mixture_metrics(points: np.ndarray, centers: np.ndarray, sigma: float, min_count: int = 1) -> dict[str, float]:
    points, centers = np.asarray(points, float), np.asarray(centers, float)
    d2 = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    hq = np.sqrt(d2[np.arange(len(points)), nearest]) <= 3 * sigma
    k = len(centers)
    counts = np.bincount(nearest[hq], minlength=k).astype(float)
    modes = int((counts >= min_count).sum())
    return {"modes": modes, "hq_percent": 100.0 * float(hq.mean()), "reverse_kl": _kl_to_uniform(counts)}


def _kl_to_uniform(counts: np.ndarray) -> float:
    """KL(counts / total ‖ uniform over len(counts)); NaN without samples."""
    if counts.sum() <= 0:
        return float("nan")
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * len(counts))))


def histogram_coverage(labels: np.ndarray, num_modes: int) -> tuple[int, float]:
    """(modes with ≥ 1 sample, KL(label histogram ‖ uniform over ``num_modes``))."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_modes).astype(float)
    return int((counts > 0).sum()), _kl_to_uniform(counts)


def stacked_mode_metrics(labels: np.ndarray, num_modes: int) -> dict[str, float]:
    """{"stacked_modes", "stacked_kl"}: modes captured out of ``num_modes`` (1000) and the KL to uniform."""
    modes, kl = histogram_coverage(labels, num_modes)
    return {"stacked_modes": modes, "stacked_kl": kl}
