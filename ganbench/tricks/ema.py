"""Exponential moving average of G's weights (Yazıcı et al. 2019; Karras et al. 2018): after every G step
θ_ema ← decay·θ_ema + (1 − decay)·θ, so samples come from a smoothed generator that does not jitter with the
last updates. Before step ``start`` the average simply tracks G. Buffers (BatchNorm statistics) are copied.

The average becomes the network to sample from (``TrickContext.set_sampler``): samples, snapshots and
``generator.pt``, and so the evaluation, use the EMA weights; the raw G is in every checkpoint and is kept as
``generator_raw.pt``.
"""

from __future__ import annotations

import copy

import torch

from ganbench.options import Range
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("ema")
class EMA(Trick):
    defaults = {"decay": 0.999, "start": 0}
    ranges = {"decay": Range(0, 1, open_high=True), "start": Range(0, integer=True)}
    citation = "Yazıcı et al., The Unusual Effectiveness of Averaging in GAN Training (ICLR 2019)"

    def __init__(self, options, key):
        super().__init__(options, key)
        self.average: torch.nn.Module | None = None

    def on_models(self, ctx):
        self.average = copy.deepcopy(ctx.generator).eval().requires_grad_(False)
        ctx.set_sampler(self.average)

    @torch.no_grad()
    def after_g_step(self, ctx):
        assert self.average is not None
        weight = 1.0 if ctx.step < int(self.options["start"]) else 1.0 - float(self.options["decay"])
        G = ctx.generator
        for avg, new in zip(self.average.parameters(), G.parameters()):
            avg.lerp_(new, weight)
        for avg, new in zip(self.average.buffers(), G.buffers()):
            avg.copy_(new)

    def state_dict(self):
        return {"average": self.average.state_dict()} if self.average is not None else {}

    def load_state_dict(self, state):
        if "average" in state and self.average is not None:
            self.average.load_state_dict(state["average"])
