"""Mode coverage: 2-D Gaussian mixtures (PacGAN's definitions) and label histograms (classes, Stacked MNIST modes).

Mixtures (Lin et al. 2018, Sec. 5; after VEEGAN): each sample is assigned to its nearest mode; it is *high quality*
when it lies within 3σ of that mode. A mode is *captured* when at least one high-quality sample is assigned to it
(``min_count`` raises that bar). *Reverse KL* is KL(P_gen ‖ P_true) between the histogram of high-quality samples
over the modes and the true (uniform) mode distribution: 0 when every mode gets an equal share, log(K) when one
mode takes all. The protocol draws 2500 samples (``evaluation.mixture_samples``).

Labelled images: ``histogram_coverage`` counts the classes the domain classifier puts at least one sample in and
KL(histogram ‖ uniform). On Stacked MNIST / Stacked Fashion-MNIST the classifier labels each channel, giving one of
1000 modes (``100·r + 10·g + b``); ``stacked_mode_metrics`` reports the modes captured out of 1000 and the KL, on
``evaluation.stacked_samples`` samples (26 000 by default, as in VEEGAN and PacGAN).

The published counts above rest on single samples: one stray sample out of thousands makes a mode "captured". Beside
each, the ``*_reached`` count keeps only modes (classes) that hold at least ``min_share`` of the share a uniform
spread would give them, i.e. at least ``min_share · N / K`` of the N samples (``evaluation.mode_min_share``,
default 0.1; never fewer than one sample). Every result also carries the per-mode sample counts, so the report
can show how many samples stand behind each covered mode.
"""

from __future__ import annotations

import math

import numpy as np


def min_samples(total: int, num_modes: int, min_share: float) -> int:
    """Samples a mode needs to count as *reached*: ``min_share`` of the uniform share ``total / num_modes``,
    rounded up, and at least 1."""
    return max(1, math.ceil(min_share * total / num_modes - 1e-9))


def reached(counts: np.ndarray, total: int, min_share: float) -> int:
    """Modes whose count is at least ``min_samples(total, len(counts), min_share)``."""
    return int((np.asarray(counts) >= min_samples(total, len(counts), min_share)).sum())


def assign_modes(points: np.ndarray, centers: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(index of each point's nearest mode, whether it is high quality: within 3σ of that mode)."""
    points, centers = np.asarray(points, float), np.asarray(centers, float)
    d2 = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    return nearest, np.sqrt(d2[np.arange(len(points)), nearest]) <= 3 * sigma


def mixture_metrics(points: np.ndarray, centers: np.ndarray, sigma: float, min_count: int = 1,
                    min_share: float = 0.1) -> dict[str, float | list[int]]:
    """PacGAN's modes, high-quality % and reverse KL of ``points``, the modes reached by ``min_share`` of a uniform
    share of all ``len(points)`` samples, ``mode_counts`` (the high-quality samples of each mode) and
    ``mode_min_samples`` (the count a mode needs to be reached)."""
    nearest, hq = assign_modes(points, centers, sigma)
    k = len(centers)
    counts = np.bincount(nearest[hq], minlength=k)
    return {"modes": int((counts >= min_count).sum()), "modes_reached": reached(counts, len(points), min_share),
            "hq_percent": 100.0 * float(hq.mean()), "reverse_kl": _kl_to_uniform(counts.astype(float)),
            "mode_counts": counts.tolist(), "mode_min_samples": min_samples(len(points), k, min_share)}


def _kl_to_uniform(counts: np.ndarray) -> float:
    """KL(counts / total ‖ uniform over len(counts)); NaN without samples."""
    if counts.sum() <= 0:
        return float("nan")
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * len(counts))))


def label_counts(labels: np.ndarray, num_modes: int) -> np.ndarray:
    """Samples per label, 0 … ``num_modes`` − 1."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_modes)


def histogram_coverage(labels: np.ndarray, num_modes: int) -> tuple[int, float]:
    """(modes with ≥ 1 sample, KL(label histogram ‖ uniform over ``num_modes``))."""
    counts = label_counts(labels, num_modes).astype(float)
    return int((counts > 0).sum()), _kl_to_uniform(counts)


def stacked_mode_metrics(labels: np.ndarray, num_modes: int, min_share: float = 0.1) -> dict[str, float | list[int]]:
    """{"stacked_modes", "stacked_kl", "stacked_modes_reached", "stacked_counts", "stacked_min_samples"}: modes
    captured out of ``num_modes`` (1000), the KL to uniform, the modes reached by ``min_share`` of a uniform share,
    the samples of each mode, and the count a mode needs to be reached."""
    counts = label_counts(labels, num_modes)
    modes, kl = histogram_coverage(labels, num_modes)
    return {"stacked_modes": modes, "stacked_kl": kl, "stacked_modes_reached": reached(counts, len(labels), min_share),
            "stacked_counts": counts.tolist(), "stacked_min_samples": min_samples(len(labels), num_modes, min_share)}
