"""Learning-rate schedule for G's and every D's optimizer, as a factor of the configured lr_g/lr_d that follows
the generator step t over ``steps`` steps (default: the run's ``steps``) and then stays at its end value:

- ``constant``: 1;
- ``linear``:   1 → ``final`` linearly (the decay to zero of Radford et al./BigGAN-style runs with ``final: 0``);
- ``cosine``:   ``final`` + (1 − ``final``)·(1 + cos(π t / steps)) / 2 (Loshchilov & Hutter 2017).

Implemented with ``torch.optim.lr_scheduler.LambdaLR``, stepped after every G step; the schedulers' state is part
of the checkpoint, so a resumed run continues the schedule.
"""

from __future__ import annotations

import math
from typing import Callable

from torch.optim.lr_scheduler import LambdaLR

from ganbench.options import PROBABILITY, Choice, Range
from ganbench.tricks.base import TRICKS, Trick

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, final: float, total: int) -> Callable[[int], float]:
    """The multiplier of the base learning rate after ``t`` generator steps."""

    def factor(t: int) -> float:
        progress = min(t, total) / total
        if schedule == "linear":
            return 1.0 - (1.0 - final) * progress
        if schedule == "cosine":
            return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return factor


@TRICKS.register("lr_schedule")
class LRSchedule(Trick):
    defaults = {"schedule": "linear", "final": 0.0, "steps": None}
    ranges = {"schedule": Choice(*SCHEDULES), "final": PROBABILITY, "steps": Range(1, integer=True, nullable=True)}
    citation = "Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts (ICLR 2017)"

    def __init__(self, options, key):
        super().__init__(options, key)
        self.schedulers: list[LambdaLR] = []

    def on_optimizers(self, ctx):
        total = int(self.options["steps"] or ctx.total_steps)
        factor = lr_factor(self.options["schedule"], float(self.options["final"]), total)
        self.schedulers = [LambdaLR(opt, factor) for opt in ctx.optimizers()]

    def after_g_step(self, ctx):
        for scheduler in self.schedulers:
            scheduler.step()

    def state_dict(self):
        return {"schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        for scheduler, saved in zip(self.schedulers, state.get("schedulers", [])):
            scheduler.load_state_dict(saved)
