"""Memorization check: how close generated samples come to the training set, relative to unseen real data.

For every sample the Euclidean distance to its nearest *training* image is measured in the domain classifier's
feature space. Real images the generator never saw (the test split) set the reference: a generator that models the
distribution produces samples about as far from their nearest training image as held-out real images are, so

    memorization_ratio = median NN distance(generated → train) / median NN distance(held-out test → train)

is ≈ 1 for a generalising model (larger when samples are off the data manifold), and < 1 suggests it reproduces
training images (Meehan et al. 2020 test the same quantity; the median keeps a few outliers from deciding it).

The training features and the held-out median are computed once per dataset (``real_features``); a run costs
one ``memorization_samples`` × train distance pass. The real-vs-real floor is the same ratio for a second
held-out subset, disjoint from the first: its distance from 1 is the noise level of the check.
"""

from __future__ import annotations

import torch

BLOCK = 8192  # reference rows per distance block


def nearest_distances(query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each row of ``query`` to its nearest row of ``reference``.

    ‖q − r‖² = ‖q‖² + ‖r‖² − 2 q·r: the nearest r minimises ‖r‖² − 2 q·r, one matrix product per block; the
    square root is taken only of the minima.
    """
    query, reference = query.float(), reference.float()
    best = torch.full((len(query),), float("inf"))
    for start in range(0, len(reference), BLOCK):
        ref = reference[start:start + BLOCK]
        best = torch.minimum(best, torch.addmm(ref.square().sum(1)[None], query, ref.T, alpha=-2).amin(1))
    return (best + query.square().sum(1)).clamp_min(0).sqrt()


def median_distance(query: torch.Tensor, reference: torch.Tensor) -> float:
    return float(nearest_distances(query, reference).median())


def memorization_ratio(gen: torch.Tensor, train: torch.Tensor, heldout_median: float) -> dict[str, float]:
    """{"memorization_ratio", "nn_train_distance"} for generated features ``gen`` (see the module text)."""
    gen_median = median_distance(gen, train)
    return {"memorization_ratio": gen_median / heldout_median, "nn_train_distance": gen_median}
