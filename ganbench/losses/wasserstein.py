"""Wasserstein critics: WGAN (Arjovsky et al. 2017, weight clipping) and WGAN-GP (Gulrajani et al. 2017).

The critic maximises E[D(x)] − E[D(G(z))], G maximises E[D(G(z))]. WGAN keeps D Lipschitz by clipping its weights
to [−c, c] after each critic step (the ``weight_clip`` trick, RMSprop, c = 0.01, n_critic = 5); WGAN-GP instead adds
λ·E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates x̂ (λ = 10, Adam(1e-4, β=(0, 0.9)), n_critic = 5).
"""

from __future__ import annotations

import torch

from ganbench.losses.base import LOSSES, GANLoss


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor, center: float = 1.0) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − center)²] with x̂ uniformly on segments between real and fake samples."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = discriminator(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - center) ** 2).mean()


@LOSSES.register("wgan")
class Wasserstein(GANLoss):
    wasserstein = True
    citation = "Arjovsky et al., Wasserstein GAN (ICML 2017)"

    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits):
        return -fake_logits.mean()


@LOSSES.register("wgan-gp")
class WassersteinGP(Wasserstein):
    defaults = {"gp_weight": 10.0}
    citation = "Gulrajani et al., Improved Training of Wasserstein GANs (NeurIPS 2017)"

    def penalty(self, discriminator, real, fake):
        return self.options["gp_weight"] * gradient_penalty(discriminator, real, fake)
