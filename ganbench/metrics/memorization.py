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

import math
from typing import TYPE_CHECKING, Any

import torch

from ganbench.metrics.registry import Option, Score, metric

if TYPE_CHECKING:
    from ganbench.metrics.context import FloorContext, RealContext, RunContext

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


# ------------------------------------------------------------------------------------------- declaration
def _reference(ctx: RealContext) -> dict[str, Any]:
    """The domain-classifier features of the whole train split (stored at half size: a stacked train split is
    60 000 × 384; distances in float32) and the median nearest-training distance of ``memorization_samples``
    held-out images (of the test split; of the validation split in a search's phase 1); a second, disjoint held-out
    subset is kept for the floor."""
    from ganbench.metrics.context import heldout_pair
    from ganbench.metrics.extractors import CLASS_FEATURES

    train = ctx.features(ctx.data.x_train, CLASS_FEATURES).half()
    heldout, ctx.floor_inputs["memorization_heldout"] = heldout_pair(
        ctx.data.heldout(ctx.options["real_split"])[0], int(ctx.options["memorization_samples"]), ctx.seed + 2)
    reference = ctx.features(heldout, CLASS_FEATURES)
    return {"memorization": {"train": train, "heldout_median": median_distance(reference, train),
                             "heldout_samples": len(reference)}}


def _floor(ctx: FloorContext) -> dict[str, Any]:
    from ganbench.metrics.extractors import CLASS_FEATURES

    heldout = ctx.floor_inputs.get("memorization_heldout")
    if heldout is None or "memorization" not in ctx.real:
        return {}
    mem = ctx.real["memorization"]
    return memorization_ratio(ctx.real_side.features(heldout, CLASS_FEATURES), mem["train"], mem["heldout_median"])


@metric("memorization", kinds=("image",), needs=("classifier", "heldout"), position=60,
        scores=(Score("memorization_ratio", "Memorization ratio", "floor", "{:.3f}",
                      lambda o: f"median distance of {o['memorization_samples']:,} (evaluation.memorization_samples) "
                                "samples to their nearest training image ÷ that of as many held-out real images "
                                "(classifier features): ≈ 1 generalises, < 1 suggests copying training images, > 1 "
                                "also means samples far from the data"),),
        records=("nn_train_distance", "memorization_samples", "nn_train_distance_heldout"),
        real=_reference, floor=_floor,
        options=(Option("memorization_samples", 1000, {
            "type": "integer", "minimum": 2,
            "description": "Generated (and as many held-out real) samples in the nearest-training-neighbour check."}),
        ))
def memorization(ctx: RunContext) -> dict[str, Any]:
    from ganbench.metrics.extractors import CLASS_FEATURES

    mem = ctx.real.get("memorization")
    if mem is None:
        return {"memorization_ratio": math.nan}
    gen = ctx.generated[CLASS_FEATURES][: int(ctx.options["memorization_samples"])]
    return {**memorization_ratio(gen, mem["train"], float(mem["heldout_median"])),
            "memorization_samples": len(gen), "nn_train_distance_heldout": float(mem["heldout_median"])}
