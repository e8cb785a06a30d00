"""Mode coverage on 2-D Gaussian mixtures, with PacGAN's definitions (Lin et al. 2018, Sec. 5; after VEEGAN).

Each sample is assigned to its nearest mode; it is *high quality* when it lies within 3σ of that mode. A mode is
*captured* when at least one high-quality sample is assigned to it (``min_count`` raises that bar). *Reverse KL* is
KL(P_gen ‖ P_true) between the histogram of high-quality samples over the modes and the true (uniform) mode
distribution: 0 when every mode gets an equal share, log(K) when one mode takes all.
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
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * k)))
    else:
        reverse_kl = float("nan")
    return {"modes": modes, "hq_percent": 100.0 * float(hq.mean()), "reverse_kl": reverse_kl}
