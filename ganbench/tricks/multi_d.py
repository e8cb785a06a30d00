"""Multiple discriminators (Durugkar et al. 2017, GMAN with the arithmetic mean): ``count`` independently
initialised discriminators, each with its own optimizer, all trained on the same batches; G minimises the mean of
its losses against them, which averages out the quirks of any single D.

Every extra discriminator is built like the first, with the same per-D tricks (spectral norm, packing, ...); the
GAN's step already trains and averages over its list of discriminators, so this trick only adds to it
(``TrickContext.add_discriminator``).
"""

from __future__ import annotations

from ganbench.options import COUNT
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("multi_d")
class MultiD(Trick):
    defaults = {"count": 2}
    ranges = {"count": COUNT}
    citation = "Durugkar et al., Generative Multi-Adversarial Networks (ICLR 2017)"

    def on_models(self, ctx):
        for _ in range(int(self.options["count"]) - ctx.discriminator_count):
            ctx.add_discriminator()
