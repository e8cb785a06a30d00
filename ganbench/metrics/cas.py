"""Classification accuracy score (CAS; Ravuri & Vinyals 2019): "use generated data to train a classifier".

For a class-conditional generator, a small classifier (the domain classifier's architecture,
``ganbench.metrics.classifier``) is trained on ``evaluation.cas.samples`` generated images of requested, balanced
labels, then tested on the real test split. A generator whose samples carry what makes each class itself teaches a
classifier almost as well as real data; one that ignores its labels, collapses or draws off the data teaches it
little, even when each sample looks good (which FID rewards). The real-vs-real floor (the report's "data" row) is
the same classifier trained the same way on as many real training images: the accuracy real data reaches.

Cost: one classifier training per run (``epochs`` over ``samples`` images) and a pass over the test split; with the
defaults a few seconds on a CPU. The classifier's random streams are forked, so the other metrics do not depend on
whether CAS ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganbench.metrics.classifier import train_classifier
from ganbench.metrics.conditional import is_conditional
from ganbench.metrics.registry import Option, Score, metric
from ganbench.train.conditioning import balanced_labels
from ganbench.train.trainer import to_uint8

if TYPE_CHECKING:
    from ganbench.data import Prepared
    from ganbench.metrics.context import FloorContext, RunContext


def test_accuracy(x: torch.Tensor, y: torch.Tensor, data: Prepared, options: dict[str, Any]) -> float:
    """Real test-split accuracy of a classifier trained on uint8 images ``x`` with labels ``y``."""
    with torch.random.fork_rng(devices=[]):
        _, info = train_classifier(x, y, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test),
                                   data.num_classes, options)
    return float(info["test_accuracy"])


@torch.no_grad()
def generated_training_set(net, z_dim: int, n: int, num_classes: int, batch_size: int, seed: int,
                           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``net(z, y)`` (uint8, on the CPU) for balanced labels ``y``, and the labels."""
    labels = balanced_labels(n, num_classes)
    gen = torch.Generator().manual_seed(seed)
    images = []
    for start in range(0, n, batch_size):
        y = labels[start:start + batch_size]
        z = torch.randn(len(y), z_dim, generator=gen).to(device)
        images.append(to_uint8(net(z, y.to(device)).float()).cpu())
    return torch.cat(images), labels


def _describe(o: dict[str, Any]) -> str:
    cas = o["cas"]
    return (f"real test-split accuracy of a classifier (the domain classifier's architecture, width {cas['width']}) "
            f"trained for {cas['epochs']:g} epoch(s) on {cas['samples']:,} generated samples of requested, balanced "
            "labels (Ravuri & Vinyals 2019); data row: the same classifier trained on as many real training images "
            "(conditional architectures)")


def _floor(ctx: FloorContext) -> dict[str, Any]:
    cas = ctx.options["cas"]
    n = min(int(cas["samples"]), len(ctx.data.x_train))
    idx = np.sort(np.random.default_rng(int(cas["seed"])).permutation(len(ctx.data.x_train))[:n])
    x, y = torch.from_numpy(ctx.data.x_train[idx]), torch.from_numpy(ctx.data.y_train[idx])
    return {"cas": test_accuracy(x, y, ctx.data, cas), "cas_samples": n}


OPTION = Option("cas", {"samples": 10_000, "epochs": 2, "batch_size": 128, "lr": 1e-3, "seed": 0, "width": 16}, {
    "type": "object",
    "additionalProperties": False,
    "description": "Classification accuracy score of conditional generators (Ravuri & Vinyals 2019): a classifier of "
                   "the domain classifier's architecture trained on `samples` generated images of balanced labels, "
                   "tested on the real test split; the data row trains it on as many real training images.",
    "properties": {
        "samples": {"type": "integer", "minimum": 10,
                    "description": "Generated (and, for the data row, real) training images."},
        "epochs": {"type": "number", "exclusiveMinimum": 0},
        "batch_size": {"type": "integer", "minimum": 1},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "seed": {"type": "integer", "minimum": 0,
                 "description": "Noise of the generated set and the classifier's initialisation."},
        "width": {"type": "integer", "minimum": 1,
                  "description": "Channels of the first conv block (the second has twice)."},
    },
})


@metric("cas", kinds=("image",), needs=("classes", "heldout"), when=is_conditional, position=55,
        scores=(Score("cas", "Classification accuracy score (CAS)", "higher", "{:.3f}", _describe),),
        records=("cas_samples",), floor=_floor,
        options=(OPTION,))
def cas(ctx: RunContext) -> dict[str, Any]:
    options = ctx.options["cas"]
    net, z_dim = ctx.generator
    x, y = generated_training_set(net, z_dim, int(options["samples"]), ctx.data.num_classes,
                                  int(ctx.options["batch_size"]), int(options["seed"]), ctx.device)
    return {"cas": test_accuracy(x, y, ctx.data, options), "cas_samples": len(x)}
