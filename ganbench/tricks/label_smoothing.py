"""One-sided label smoothing (Salimans et al. 2016): the real target becomes e.g. 0.9, the fake one stays 0."""

from __future__ import annotations

from ganbench.options import Range
from ganbench.tricks.base import TRICKS, Trick, require_loss


@TRICKS.register("label_smoothing")
class LabelSmoothing(Trick):
    defaults = {"real_target": 0.9}
    ranges = {"real_target": Range(0, 1, open_low=True)}
    citation = "Salimans et al., Improved Techniques for Training GANs (NeurIPS 2016), Sec. 3.4"

    @classmethod
    def validate(cls, settings, key):
        require_loss(settings, key, "uses_real_target",
                     "label smoothing needs a loss with a real target (minimax, nonsaturating, lsgan)")

    def on_models(self, ctx):
        ctx.set_real_target(float(self.options["real_target"]))
