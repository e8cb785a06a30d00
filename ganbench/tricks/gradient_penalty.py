"""Gradient penalty as a trick (Gulrajani et al. 2017): weight · E[(‖∇D(x̂)‖₂ − center)²] on random interpolates
x̂ between real and fake samples, added to D's loss whatever the loss is (e.g. hinge + GP). ``center: 0`` gives the
zero-centred variant (Thanh-Tung et al. 2019). The ``wgan-gp`` loss already adds it, so the two do not combine; a
batch-normalised critic is refused (see ``ganbench.losses.wasserstein``). For a conditional GAN the interpolates
pair samples of one class and the norm is over the data, not the labels (``gradient_penalty``)."""

from __future__ import annotations

from ganbench.errors import ConfigError
from ganbench.losses.wasserstein import gradient_penalty, refuse_batchnorm_critic
from ganbench.options import NON_NEGATIVE, POSITIVE
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("gradient_penalty")
class GradientPenalty(Trick):
    defaults = {"weight": 10.0, "center": 1.0}
    ranges = {"weight": POSITIVE, "center": NON_NEGATIVE}
    citation = "Gulrajani et al., Improved Training of Wasserstein GANs (NeurIPS 2017)"
    lipschitz = "gradient penalty"
    gradient_penalty = True

    @classmethod
    def validate(cls, settings, key):
        from ganbench.losses import LOSSES

        loss = settings["loss"]["name"]
        if LOSSES.get(loss).gradient_penalty:
            raise ConfigError(f"{key}: loss {loss} already adds a gradient penalty; use a loss without one (wgan) "
                              f"with this trick or drop it")
        refuse_batchnorm_critic(settings, key)

    def d_penalty(self, critic, ctx):
        return float(self.options["weight"]) * gradient_penalty(critic.D, critic.real, critic.fake,
                                                                float(self.options["center"]), critic.conditioning)
