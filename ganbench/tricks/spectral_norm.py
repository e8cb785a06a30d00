"""Spectral normalisation (Miyato et al. 2018) of every conv/linear weight of D (and optionally G).

It reparametrises the layers that exist, so it runs after the tricks that add or replace layers (``order``)."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganbench.tricks.base import TRICKS, Trick


def apply_spectral_norm(module: nn.Module) -> None:
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(m)


@TRICKS.register("spectral_norm")
class SpectralNorm(Trick):
    defaults = {"generator": False}
    citation = "Miyato et al., Spectral Normalization for Generative Adversarial Networks (ICLR 2018)"
    lipschitz = "spectral normalisation"

    def on_discriminator(self, D, ctx):
        apply_spectral_norm(D)
        return D

    def on_generator(self, G, ctx):
        if self.options["generator"]:
            apply_spectral_norm(G)
        return G
