"""Conditional generators: does G(z, y) show class y?

For a class-conditional GAN the domain classifier's accuracy on samples generated for requested labels measures
how well the conditioning works (the "classification accuracy score" direction of Ravuri & Vinyals 2019; AC-GAN
reports the same). ``conditional_accuracy`` takes any callable ``generator(z, labels)``; the evaluation calls it
for every variant with ``conditional: concat`` or ``projection`` (``ganbench.train.conditioning``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ganbench.metrics.classifier import DomainClassifier
from ganbench.metrics.registry import Score, metric
from ganbench.train.conditioning import CONDITIONINGS, balanced_labels


def is_conditional(settings: dict[str, Any]) -> bool:
    """Whether the run trained a class-conditional GAN: its ``conditional`` setting names a conditioning whose
    labels travel in G's and D's inputs (``Conditioning.active``)."""
    return bool(CONDITIONINGS.get(settings.get("conditional", "none"), key="conditional").active)


@torch.no_grad()
def conditional_accuracy(generator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], labels: torch.Tensor,
                         classifier: DomainClassifier, z_dim: int, batch_size: int = 500, seed: int = 0,
                         device: torch.device | str = "cpu") -> float:
    """Fraction of samples ``generator(z, y)`` (images in [−1, 1]) that the domain classifier labels ``y``."""
    from ganbench.train.trainer import to_uint8

    gen = torch.Generator().manual_seed(seed)
    correct = 0
    for start in range(0, len(labels), batch_size):
        y = labels[start:start + batch_size]
        z = torch.randn(len(y), z_dim, generator=gen).to(device)
        images = to_uint8(generator(z, y.to(device)).float()).cpu()
        correct += int((classifier.infer(images)[1].argmax(1) == y).sum())
    return correct / max(1, len(labels))


@metric("conditional", kinds=("image",), needs=("classifier", "classes"), when=is_conditional, position=50,
        scores=(Score("conditional_accuracy", "Conditional accuracy", "higher", "{:.3f}",
                      lambda o: f"domain-classifier accuracy on {o['num_samples']:,} samples generated for requested, "
                                "balanced labels (conditional architectures)"),))
def conditional(ctx: Any) -> dict[str, Any]:
    from ganbench.metrics.extractors import CLASSIFIER

    net, z_dim = ctx.generator
    classifier = ctx.pipeline.extractors[CLASSIFIER].net.model
    labels = balanced_labels(ctx.n, ctx.data.num_classes)
    return {"conditional_accuracy": conditional_accuracy(net, labels, classifier, z_dim,
                                                         int(ctx.options["batch_size"]), int(ctx.options["seed"]),
                                                         ctx.device)}
