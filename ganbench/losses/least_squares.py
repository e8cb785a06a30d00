"""LSGAN (Mao et al. 2017), the a=0, b=1, c=1 coding: D → 1 on real, 0 on fake; G pushes D(G(z)) to 1."""

from __future__ import annotations

from ganbench.losses.base import LOSSES, GANLoss


@LOSSES.register("lsgan")
class LeastSquares(GANLoss):
    uses_real_target = True
    citation = "Mao et al., Least Squares Generative Adversarial Networks (ICCV 2017)"
    equilibrium = (0.25, 0.125)  # D(x) = D(G(z)) = ½: D ½(½ − 1)² + ½(½)²; G ½(½ − 1)²

    def d_loss(self, real_logits, fake_logits):
        return 0.5 * ((real_logits - self.real_target) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def g_loss(self, real_logits, fake_logits):
        return 0.5 * ((fake_logits - 1.0) ** 2).mean()
