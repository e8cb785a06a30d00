"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise on every D input, σ annealed
linearly from ``sigma`` to 0 over ``anneal_steps`` generator steps, so real and fake distributions overlap early."""

from __future__ import annotations

import torch

from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("instance_noise")
class InstanceNoise(Trick):
    defaults = {"sigma": 0.1, "anneal_steps": 1000}
    citation = "Sønderby et al., Amortised MAP Inference for Image Super-resolution (ICLR 2017)"

    def sigma_at(self, step: int) -> float:
        frac = max(0.0, 1.0 - step / max(1, int(self.options["anneal_steps"])))
        return float(self.options["sigma"]) * frac

    def d_inputs(self, real, fake, gan):
        sigma = self.sigma_at(gan.step)
        if sigma == 0.0:
            return real, fake
        return real + sigma * torch.randn_like(real), fake + sigma * torch.randn_like(fake)
