"""Kernel Inception Distance (Bińkowski et al., ICLR 2018): torch-fidelity's ``kid_features_to_metric``, with the
real×real kernel sums cached once per dataset.

KID is the unbiased estimate of MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over
``subsets`` random subsets of ``size`` generated and ``size`` real samples (mean and std over the subsets). For
subsets X (generated) and Y (real) of size m::

    MMD²_u = (Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)) / (m (m − 1)) − 2 Σ_{i,j} k(x_i, y_j) / m²

The subsets are torch-fidelity's: ``numpy.random.RandomState(seed)``, and per subset ``choice(n_gen, m,
replace=False)`` then ``choice(n_real, m, replace=False)``. They depend on the sample counts and the seed alone, so
the real term of every subset is a property of the real features: ``real_sums`` computes it once per dataset (the
``real_features`` rule) and each run then computes only its generated×generated and generated×real terms, a third
less kernel work, on top of a cheaper evaluation of each term (the generated×generated product as a symmetric rank-k
update, the kernel applied in place, float32 sums that torch accumulates blockwise). torch-fidelity evaluates every
kernel in float32 too; the two agree to float32 rounding of the kernel sums (tested: ``tests/test_metrics.py``).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

DEGREE, COEF0 = 3, 1.0  # torch-fidelity's defaults: kid_kernel_poly_degree, kid_kernel_poly_coef0 (gamma = 1/d)


def subset_indices(n_gen: int, n_real: int, size: int, subsets: int, seed: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(generated, real) row indices of each subset, drawn as torch-fidelity draws them."""
    if size > min(n_gen, n_real):
        raise ValueError(f"a KID subset of {size} needs at least {size} generated and real samples "
                         f"(have {n_gen} and {n_real})")
    rng = np.random.RandomState(seed)
    for _ in range(subsets):
        yield rng.choice(n_gen, size, replace=False), rng.choice(n_real, size, replace=False)


def _kernel_sum(x: np.ndarray, y: np.ndarray | None = None) -> float:
    """Σ k(x_i, y_j) over all pairs; with ``y`` None, Σ_{i≠j} k(x_i, x_j) (the diagonal left out)."""
    # numpy computes x @ x.T as a symmetric rank-k update, half the multiplications of a general product
    k = torch.from_numpy(x @ (x if y is None else y).T)
    k.mul_(1.0 / x.shape[1]).add_(COEF0).pow_(DEGREE)
    total = float(k.sum())
    return total - float(k.diagonal().sum()) if y is None else total


def _rows(features: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(features.detach().float().cpu().numpy())


def real_sums(real: torch.Tensor, n_gen: int, size: int, subsets: int, seed: int) -> dict[str, Any]:
    """The real term Σ_{i≠j} k(y_i, y_j) of every subset, for ``n_gen`` generated samples, with the settings it
    holds for (``kid`` uses it only when they match)."""
    y = _rows(real)
    sums = [_kernel_sum(y[j]) for _, j in subset_indices(n_gen, len(y), size, subsets, seed)]
    return {"n_gen": n_gen, "n_real": len(y), "size": size, "subsets": subsets, "seed": seed,
            "sums": torch.tensor(sums, dtype=torch.float64)}


def kid(gen: torch.Tensor, real: torch.Tensor, size: int, subsets: int, seed: int,
        cache: dict[str, Any] | None = None) -> dict[str, float]:
    """{"kid", "kid_std"}: mean and (population) std of MMD²_u over the subsets, as torch-fidelity reports them.

    ``cache``: ``real_sums(real, len(gen), size, subsets, seed)``, computed once per dataset; ignored (and the real
    terms computed here) unless its settings are these."""
    x, y = _rows(gen), _rows(real)
    key = {"n_gen": len(x), "n_real": len(y), "size": size, "subsets": subsets, "seed": seed}
    cached = cache is not None and all(cache.get(k) == v for k, v in key.items())
    mmds = np.empty(subsets)
    for s, (i, j) in enumerate(subset_indices(len(x), len(y), size, subsets, seed)):
        xs, ys = x[i], y[j]
        yy = float(cache["sums"][s]) if cached else _kernel_sum(ys)
        mmds[s] = (_kernel_sum(xs) + yy) / (size * (size - 1)) - 2.0 * _kernel_sum(xs, ys) / (size * size)
    return {"kid": float(mmds.mean()), "kid_std": float(mmds.std())}
