"""Goodfellow et al. 2014: the true minimax game and its non-saturating fix.

D maximises log D(x) + log(1 − D(G(z))). With logits l and D = sigmoid(l): −log D = softplus(−l) and
−log(1 − D) = softplus(l). The saturating G minimises log(1 − D(G(z))) = −softplus(l), whose gradient vanishes
when D confidently rejects fakes (D(G(z)) ≈ 0); the non-saturating G instead maximises log D(G(z)), i.e.
minimises softplus(−l), whose gradient is largest there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench.losses.base import LOSSES, GANLoss


class _BinaryCrossEntropyD(GANLoss):
    uses_real_target = True

    def d_loss(self, real_logits, fake_logits):
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_target))
        return real + F.softplus(fake_logits).mean()


@LOSSES.register("minimax")
class Minimax(_BinaryCrossEntropyD):
    citation = "Goodfellow et al., Generative Adversarial Nets (NeurIPS 2014), Eq. 1"
    equilibrium = (1.3862943611198906, -0.6931471805599453)  # D: 2 log 2; G: log(1 − ½) = −log 2

    def g_loss(self, real_logits, fake_logits):
        return -F.softplus(fake_logits).mean()


@LOSSES.register("nonsaturating")
class NonSaturating(_BinaryCrossEntropyD):
    citation = "Goodfellow et al. 2014, Sec. 3 (the -log D trick)"
    equilibrium = (1.3862943611198906, 0.6931471805599453)  # D: 2 log 2; G: −log ½ = log 2

    def g_loss(self, real_logits, fake_logits):
        return F.softplus(-fake_logits).mean()
