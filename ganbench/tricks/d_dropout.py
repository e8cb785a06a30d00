"""Dropout in D (Goodfellow et al. 2014 trained D with dropout; Radford et al. 2016, Sec. 4; Isola et al. 2017):
``Dropout(p)`` after every nonlinearity of the discriminator, so D cannot lean on a few features and its
gradients for G stay informative. Only D is affected; it is always in training mode while the GAN trains."""

from __future__ import annotations

from torch import nn

from ganbench.options import Range
from ganbench.tricks.base import ORDER_STRUCTURE, TRICKS, Trick
from ganbench.tricks.surgery import activations, replace


@TRICKS.register("d_dropout")
class DDropout(Trick):
    defaults = {"p": 0.3}
    ranges = {"p": Range(0, 1, open_high=True)}
    citation = "Goodfellow et al., Generative Adversarial Nets (NeurIPS 2014), Sec. 5"
    order = ORDER_STRUCTURE

    def on_discriminator(self, D, ctx):
        names = activations(D)
        if not names:
            raise ValueError(f"{self.key}: the discriminator has no activation to put dropout after")
        for name in names:
            replace(D, name, nn.Sequential(D.get_submodule(name), nn.Dropout(float(self.options["p"]))))
        return D
