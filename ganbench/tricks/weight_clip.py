"""WGAN weight clipping (Arjovsky et al. 2017): after each critic step every D parameter is clamped to [−c, c]."""

from __future__ import annotations

import torch

from ganbench.errors import ConfigError
from ganbench.losses import LOSSES
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("weight_clip")
class WeightClip(Trick):
    defaults = {"clip": 0.01}
    citation = "Arjovsky et al., Wasserstein GAN (ICML 2017), Algorithm 1"

    @classmethod
    def validate(cls, settings, key):
        loss = settings["loss"]["name"]
        if not LOSSES.get(loss).wasserstein:
            raise ConfigError(f"{key}: weight clipping bounds a Wasserstein critic; it needs loss wgan or wgan-gp, "
                              f"not {loss!r}")

    @torch.no_grad()
    def after_d_step(self, D, gan):
        c = float(self.options["clip"])
        for p in D.parameters():
            p.clamp_(-c, c)
