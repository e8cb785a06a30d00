"""WGAN weight clipping (Arjovsky et al. 2017): after each critic step every D parameter is clamped to [−c, c].

It bounds a Wasserstein critic, so it needs loss ``wgan`` (or ``wgan-gp``'s relative without its penalty); together
with a gradient penalty it is refused: the penalty is Gulrajani et al.'s replacement for clipping, not an addition.
"""

from __future__ import annotations

import torch

from ganbench.errors import ConfigError
from ganbench.losses.wasserstein import penalty_source
from ganbench.options import POSITIVE
from ganbench.tricks.base import TRICKS, Trick, require_loss


@TRICKS.register("weight_clip")
class WeightClip(Trick):
    defaults = {"clip": 0.01}
    ranges = {"clip": POSITIVE}
    citation = "Arjovsky et al., Wasserstein GAN (ICML 2017), Algorithm 1"
    lipschitz = "weight clipping"

    @classmethod
    def validate(cls, settings, key):
        require_loss(settings, key, "wasserstein",
                     "weight clipping bounds a Wasserstein critic; it needs loss wgan")
        source = penalty_source(settings)
        if source:
            raise ConfigError(f"{key}: weight clipping and a gradient penalty ({source}) are alternative ways to "
                              f"keep the critic Lipschitz (Gulrajani et al. 2017 replace clipping by the penalty); "
                              f"keep one")

    @torch.no_grad()
    def after_d_step(self, D, ctx):
        c = float(self.options["clip"])
        for p in D.parameters():
            p.clamp_(-c, c)
