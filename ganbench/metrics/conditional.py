"""Conditional generators: does G(z, y) show class y? (Hook; no conditional architecture exists yet.)

For a class-conditional GAN the domain classifier's accuracy on samples generated for requested labels measures
how well the conditioning works (the "classification accuracy score" direction of Ravuri & Vinyals 2019; AC-GAN
reports the same). ``conditional_accuracy`` takes any callable ``generator(z, labels)`` and is ready to use; the
evaluation calls it through the ``conditional`` evaluator as soon as an architecture sets the option
``conditional: true`` (``ganbench.models.base.Architecture`` documents that option; none implements it yet, so
the evaluator never applies today).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ganbench.metrics.classifier import DomainClassifier


def is_conditional(settings: dict[str, Any]) -> bool:
    """Whether the run's architecture is class-conditional (its ``conditional`` option)."""
    return bool(settings.get("architecture", {}).get("conditional", False))


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """0, 1, …, K−1, 0, 1, … : ``n`` requested labels, every class equally often (±1)."""
    return torch.arange(n) % num_classes


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
