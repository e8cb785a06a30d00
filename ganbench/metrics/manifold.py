"""Density and coverage (Naeem et al., ICML 2020) on features; torch-fidelity has precision/recall, not these.

With k = ``dc_neighborhood`` (5), each real sample X_i spans a ball of radius r_i to its k-th nearest real
neighbour. density = (1/kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, r_i)] counts how many real balls each of the M generated
samples falls in (≈ 1 when the distributions match, > 1 when samples crowd dense real regions); coverage =
(1/N) Σ_i 1[∃ j: Y_j ∈ B(X_i, r_i)] is the fraction of real balls that hold a generated sample. Only real balls are
used, so a few real outliers do not inflate the scores. Strict ``<`` as in the authors' ``prdc`` package.

The real radii depend on the real features only: ``knn_radii`` runs once per dataset (``real_features``) and is
passed in; the generated side is one generated×real distance pass, in row blocks.
"""

from __future__ import annotations

from typing import Iterable

import torch

BLOCK = 2048  # rows per distance block: bounds memory at BLOCK × n floats


def knn_radii(x: torch.Tensor, ks: Iterable[int]) -> dict[int, torch.Tensor]:
    """Distance from every row of ``x`` to its k-th nearest other row, for each k in ``ks``."""
    ks = sorted(set(int(k) for k in ks))
    if ks[-1] >= len(x):
        raise ValueError(f"a {ks[-1]}-nearest-neighbour radius needs more than {len(x)} samples")
    x = x.float()
    parts: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for start in range(0, len(x), BLOCK):
        nearest = torch.cdist(x[start:start + BLOCK], x).topk(ks[-1] + 1, dim=1, largest=False).values
        for k in ks:
            parts[k].append(nearest[:, k])  # index 0 is the sample itself
    return {k: torch.cat(v) for k, v in parts.items()}


def manifold_metrics(gen: torch.Tensor, real: torch.Tensor, k: int,
                     real_radii: dict[int, torch.Tensor] | None = None) -> dict[str, float]:
    """{"density", "coverage"} of generated features ``gen`` against ``real`` with k-NN balls of the real set."""
    gen, real = gen.float(), real.float()
    if real_radii is None or k not in real_radii:
        real_radii = knn_radii(real, (k,))
    radii = real_radii[k][None, :]
    inside = 0
    nearest_gen = torch.full((len(real),), float("inf"))
    for start in range(0, len(gen), BLOCK):
        d = torch.cdist(gen[start:start + BLOCK], real)  # block × real
        inside += int(torch.count_nonzero(d < radii))  # (count_nonzero and amin: far faster than sum and min)
        nearest_gen = torch.minimum(nearest_gen, d.amin(0))
    return {
        "density": inside / (k * len(gen)),
        "coverage": float((nearest_gen < radii[0]).float().mean()),
    }
