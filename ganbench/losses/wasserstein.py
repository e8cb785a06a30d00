"""Wasserstein critics: WGAN (Arjovsky et al. 2017, weight clipping) and WGAN-GP (Gulrajani et al. 2017).

The critic maximises E[D(x)] − E[D(G(z))], G maximises E[D(G(z))]. The estimate means something only for a
Lipschitz critic: WGAN keeps D Lipschitz by clipping its weights to [−c, c] after each critic step (the
``weight_clip`` trick, RMSprop, c = 0.01, n_critic = 5); WGAN-GP instead adds λ·E[(‖∇D(x̂)‖₂ − 1)²] on random
interpolates x̂ (λ = 10, Adam(1e-4, β=(0, 0.9)), n_critic = 5). The config check therefore refuses

- ``loss: wgan`` with no constraint on D (no weight clipping, gradient penalty or spectral normalisation);
- weight clipping together with a gradient penalty (two alternative constraints; Gulrajani et al. replace the one
  by the other because clipping biases the critic);
- a gradient-penalised critic with batch normalisation (Gulrajani et al., Sec. 4: the penalty is on each sample's
  gradient, which batch normalisation makes depend on the rest of the batch; layer normalisation is their
  replacement, e.g. ``architecture: {name: dcgan, batchnorm_d: false, layernorm_d: true}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ganbench.errors import ConfigError
from ganbench.losses.base import LOSSES, CriticPass, GANLoss
from ganbench.options import POSITIVE
from ganbench.registry import options_of

if TYPE_CHECKING:
    from ganbench.train.conditioning import Conditioning


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor, center: float = 1.0,
                     conditioning: "Conditioning | None" = None) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − center)²] with x̂ uniformly on segments between real and fake samples.

    Unconditional: real sample i is paired with fake sample i. Conditional (D's inputs carry one-hot labels, see
    ``ganbench.train.conditioning``): real sample i is paired with a fake of the same class, drawn at random among
    the batch's fakes of that class, so every interpolate carries one label; the norm is taken over the data part of
    the gradient only, not over the label inputs. A real sample whose class has no fake in the batch is left out of
    the mean. The inputs are not detached: where they carry G's graph (unrolled second-order updates), the penalty
    is differentiated through them too."""
    weight = None
    if conditioning is not None and conditioning.active:
        same = conditioning.labels_in(real)[:, None] == conditioning.labels_in(fake)[None, :]  # (N, M)
        # a random fake of the same class: matches score in [1, 2), the others in [0, 1)
        fake = fake[(torch.rand(same.shape, device=real.device) + same).argmax(1)]
        weight = same.any(1).to(real.dtype)
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = eps * real + (1 - eps) * fake
    if not mixed.requires_grad:
        mixed.requires_grad_(True)
    out = discriminator(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    if weight is not None:
        grad = conditioning.data_part(grad)
    per_sample = (grad.flatten(1).norm(2, dim=1) - center) ** 2
    if weight is None:
        return per_sample.mean()
    return (per_sample * weight).sum() / weight.sum().clamp_min(1.0)


# ------------------------------------------------------------------------------------------ config rules
def _trick_classes(settings: dict[str, Any]) -> dict[str, type]:
    from ganbench.tricks import TRICKS

    return {name: TRICKS.get(name) for name, options in (settings.get("tricks") or {}).items()
            if options is not None and options is not False and name in TRICKS}


def critic_constraints(settings: dict[str, Any]) -> list[str]:
    """The Lipschitz constraints the variant puts on D: the loss's own and its tricks'."""
    found = [LOSSES.get(settings["loss"]["name"]).lipschitz]
    found += [cls.lipschitz for cls in _trick_classes(settings).values()]
    return [c for c in found if c]


def penalty_source(settings: dict[str, Any]) -> str | None:
    """What adds a per-sample gradient penalty to D's loss (``loss wgan-gp``, ``tricks.gradient_penalty``), or None."""
    if LOSSES.get(settings["loss"]["name"]).gradient_penalty:
        return f"loss {settings['loss']['name']}"
    return next((f"tricks.{name}" for name, cls in _trick_classes(settings).items() if cls.gradient_penalty), None)


def refuse_batchnorm_critic(settings: dict[str, Any], key: str) -> None:
    """ConfigError at ``key`` when the variant penalises D's gradient and D normalises over the batch."""
    from ganbench.models import ARCHITECTURES

    arch = settings["architecture"]
    if ARCHITECTURES.get(arch["name"]).d_batch_norm(options_of(arch)):
        raise ConfigError(
            f"{key}: a gradient penalty needs a critic without batch normalisation (Gulrajani et al. 2017, Sec. 4: "
            f"the penalty is on each sample's gradient, which batch normalisation makes depend on the whole batch); "
            f"set architecture.batchnorm_d: false (layernorm_d: true for layer normalisation instead)")


@LOSSES.register("wgan")
class Wasserstein(GANLoss):
    wasserstein = True
    citation = "Arjovsky et al., Wasserstein GAN (ICML 2017)"

    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, real_logits, fake_logits):
        return -fake_logits.mean()

    @classmethod
    def validate(cls, settings, key):
        if not critic_constraints(settings):
            raise ConfigError(
                f"{key}: the Wasserstein critic must be Lipschitz (Arjovsky et al. 2017, Sec. 3), and nothing "
                f"constrains it; add tricks.weight_clip (the paper's choice), tricks.gradient_penalty or "
                f"tricks.spectral_norm, or use loss wgan-gp")


@LOSSES.register("wgan-gp")
class WassersteinGP(Wasserstein):
    defaults = {"gp_weight": 10.0}
    ranges = {"gp_weight": POSITIVE}
    lipschitz = "gradient penalty"
    gradient_penalty = True
    citation = "Gulrajani et al., Improved Training of Wasserstein GANs (NeurIPS 2017)"

    @classmethod
    def validate(cls, settings, key):
        refuse_batchnorm_critic(settings, key)

    def penalty(self, critic: CriticPass):
        return self.options["gp_weight"] * gradient_penalty(critic.D, critic.real, critic.fake,
                                                            conditioning=critic.conditioning)
