"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise on every D input, σ annealed
linearly from ``sigma`` to 0 over ``anneal_steps`` generator steps, so real and fake distributions overlap early.

"Every D input" is meant literally: the real and fake batches of each D step (replayed fakes included), the fake
batch of G's step (G is trained against D on the same noisy distribution D was trained on) and the batches of the
unrolled D updates, all with the σ of the current generator step (``critic_inputs``). For a conditional GAN only the
data is perturbed; the label channels/features are conditioning, not data, and stay clean.
"""

from __future__ import annotations

import torch

from ganbench.options import COUNT, NON_NEGATIVE
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("instance_noise")
class InstanceNoise(Trick):
    defaults = {"sigma": 0.1, "anneal_steps": 1000}
    ranges = {"sigma": NON_NEGATIVE, "anneal_steps": COUNT}
    citation = "Sønderby et al., Amortised MAP Inference for Image Super-resolution (ICLR 2017)"

    def sigma_at(self, step: int) -> float:
        frac = max(0.0, 1.0 - step / int(self.options["anneal_steps"]))
        return float(self.options["sigma"]) * frac

    def critic_inputs(self, x, ctx):
        sigma = self.sigma_at(ctx.step)
        if sigma == 0.0:
            return x
        return ctx.conditioning.map_data(x, lambda data: data + sigma * torch.randn_like(data))
