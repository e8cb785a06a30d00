"""Minibatch standard deviation (Karras et al. 2018, Sec. 3): the standard deviation of every feature over the
batch, averaged into one number, is appended as an extra feature before D's head, so D can tell a batch with too
little variation (mode collapse) from a real one.

Karras et al. append it as a constant feature map to the last convolutional block; here it is one extra input of
the head (the flattened features), which is the same statistic for every architecture. ``group_size`` > 0 takes
the statistic within groups of that many samples (StyleGAN's variant, 4 there); 0 uses the whole batch.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.errors import ConfigError
from ganbench.options import Range
from ganbench.tricks.base import ORDER_STRUCTURE, TRICKS, Trick
from ganbench.tricks.surgery import insert_before_head


class MinibatchStdDev(nn.Module):
    """(N, A) → (N, A + 1): the features and the mean over features of their standard deviation across the group."""

    def __init__(self, group_size: int = 0, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def statistic(self, f: torch.Tensor) -> torch.Tensor:
        n = f.shape[0]
        g = n if self.group_size <= 0 else min(self.group_size, n)
        if n % g:
            raise ValueError(f"minibatch_stddev: batch of {n} is not a multiple of group_size {g}")
        grouped = f.reshape(g, n // g, -1)  # sample i is in group i mod n/g, as in StyleGAN
        std = (grouped.var(dim=0, unbiased=False) + self.eps).sqrt().mean(dim=1)  # (n/g,)
        return std.repeat(g)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.statistic(f).unsqueeze(1).to(f.dtype)], dim=1)


@TRICKS.register("minibatch_stddev")
class MinibatchStdDevTrick(Trick):
    defaults = {"group_size": 0}
    ranges = {"group_size": Range(0, integer=True)}  # 0: the whole batch
    citation = "Karras et al., Progressive Growing of GANs (ICLR 2018), Sec. 3"
    order = ORDER_STRUCTURE

    @classmethod
    def validate(cls, settings, key):
        group = int(cls.configured(settings, key)["group_size"])
        if group and group < settings["batch_size"] and settings["batch_size"] % group:
            raise ConfigError(f"{key}.group_size: batch_size {settings['batch_size']} is not a multiple of {group}")

    def on_discriminator(self, D, ctx):
        insert_before_head(D, MinibatchStdDev(self.options["group_size"]), 1)
        return D
