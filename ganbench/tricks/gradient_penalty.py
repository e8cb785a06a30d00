"""Gradient penalty as a trick (Gulrajani et al. 2017): weight · E[(‖∇D(x̂)‖₂ − center)²] on random interpolates
x̂ between real and fake samples, added to D's loss whatever the loss is (e.g. hinge + GP). ``center: 0`` gives the
zero-centred variant (Thanh-Tung et al. 2019). The ``wgan-gp`` loss already adds it, so the two do not combine."""

from __future__ import annotations

from ganbench.errors import ConfigError
from ganbench.losses.wasserstein import gradient_penalty
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("gradient_penalty")
class GradientPenalty(Trick):
    defaults = {"weight": 10.0, "center": 1.0}
    citation = "Gulrajani et al., Improved Training of Wasserstein GANs (NeurIPS 2017)"

    def __init__(self, options, key):
        super().__init__(options, key)
        if self.options["weight"] < 0:
            raise ConfigError(f"{key}.weight: expected a number >= 0, got {self.options['weight']}")

    @classmethod
    def validate(cls, settings, key):
        if settings["loss"]["name"] == "wgan-gp":
            raise ConfigError(f"{key}: loss wgan-gp already adds a gradient penalty; use loss wgan with this trick "
                              f"or drop it")

    def d_penalty(self, D, real, fake, gan):
        return float(self.options["weight"]) * gradient_penalty(D, real, fake, float(self.options["center"]))
