"""Gradient-norm clipping: between backward and the optimizer step, the gradient of all of D's (and G's)
parameters is rescaled to a total L2 norm of at most ``max_norm_d`` (``max_norm_g``); null leaves that side
alone. Each discriminator of ``multi_d`` is clipped on its own."""

from __future__ import annotations

from torch.nn.utils import clip_grad_norm_

from ganbench.errors import ConfigError
from ganbench.options import Range
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("grad_clip")
class GradClip(Trick):
    defaults = {"max_norm_d": 1.0, "max_norm_g": 1.0}
    ranges = dict.fromkeys(defaults, Range(0, open_low=True, nullable=True))
    citation = "Pascanu et al., On the difficulty of training recurrent neural networks (ICML 2013)"

    @classmethod
    def validate(cls, settings, key):
        options = cls.configured(settings, key)
        if options["max_norm_d"] is None and options["max_norm_g"] is None:
            raise ConfigError(f"{key}: both max_norm_d and max_norm_g are null; nothing to clip")

    def before_d_step(self, D, ctx):
        if self.options["max_norm_d"] is not None:
            clip_grad_norm_(D.parameters(), float(self.options["max_norm_d"]))

    def before_g_step(self, ctx):
        if self.options["max_norm_g"] is not None:
            clip_grad_norm_(ctx.generator.parameters(), float(self.options["max_norm_g"]))
