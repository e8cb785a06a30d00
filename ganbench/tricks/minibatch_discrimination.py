"""Minibatch discrimination (Salimans et al. 2016, Sec. 3.2): D sees how close each sample is to the rest of the
batch, so a collapsed generator (a batch of near-copies) is easy to spot.

For the head's input features f(xᵢ) ∈ R^A a learned tensor T ∈ R^{A×B×C} gives Mᵢ = f(xᵢ)·T ∈ R^{B×C}; kernel b
compares samples by c_b(xᵢ, xⱼ) = exp(−‖Mᵢ,b − Mⱼ,b‖₁), and o(xᵢ)_b = Σ_{j≠i} c_b(xᵢ, xⱼ) is appended to f(xᵢ)
before the head, which is widened by B inputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.options import COUNT
from ganbench.tricks.base import ORDER_STRUCTURE, TRICKS, Trick
from ganbench.tricks.surgery import head, insert_before_head


class MinibatchDiscrimination(nn.Module):
    """(N, A) features → (N, A + B): the features and each sample's closeness to the others under B kernels."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) / math.sqrt(in_features))

    def closeness(self, f: torch.Tensor) -> torch.Tensor:
        """o(xᵢ) ∈ R^{N×B}: Σ_{j≠i} exp(−L1 distance between the kernel rows of samples i and j)."""
        m = (f @ self.T).view(f.shape[0], self.kernels, self.kernel_dim)
        dist = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(-1)  # (N, N, B)
        return torch.exp(-dist).sum(1) - 1.0  # minus exp(0) = 1 for j = i

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.closeness(f)], dim=1)


@TRICKS.register("minibatch_discrimination")
class MinibatchDiscriminationTrick(Trick):
    defaults = {"kernels": 50, "kernel_dim": 5}
    ranges = {"kernels": COUNT, "kernel_dim": COUNT}
    citation = "Salimans et al., Improved Techniques for Training GANs (NeurIPS 2016), Sec. 3.2"
    order = ORDER_STRUCTURE

    def on_discriminator(self, D, ctx):
        _, old = head(D)
        layer = MinibatchDiscrimination(old.in_features, self.options["kernels"], self.options["kernel_dim"])
        insert_before_head(D, layer, self.options["kernels"])
        return D
