"""WGAN weight clipping (Arjovsky et al. 2017): after each critic step every D parameter is clamped to [−c, c]."""

from __future__ import annotations

import torch

from ganbench.tricks.base import TRICKS, Trick, require_loss


@TRICKS.register("weight_clip")
class WeightClip(Trick):
    defaults = {"clip": 0.01}
    citation = "Arjovsky et al., Wasserstein GAN (ICML 2017), Algorithm 1"

    @classmethod
    def validate(cls, settings, key):
        require_loss(settings, key, "wasserstein",
                     "weight clipping bounds a Wasserstein critic; it needs loss wgan or wgan-gp")

    @torch.no_grad()
    def after_d_step(self, D, gan):
        c = float(self.options["clip"])
        for p in D.parameters():
            p.clamp_(-c, c)
