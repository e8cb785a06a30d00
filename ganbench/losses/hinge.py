"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1 − D(x)) + relu(1 + D(G(z)))."""

from __future__ import annotations

import torch.nn.functional as F

from ganbench.losses.base import LOSSES, GANLoss


@LOSSES.register("hinge")
class Hinge(GANLoss):
    citation = "Lim & Ye, Geometric GAN (2017); Miyato et al., Spectral Normalization (ICLR 2018)"
    equilibrium = (2.0, None)  # D = t on both, |t| ≤ 1: D's loss 2; G's −t is not determined

    def d_loss(self, real_logits, fake_logits):
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, real_logits, fake_logits):
        return -fake_logits.mean()
