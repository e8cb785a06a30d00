"""PacGAN packing (Lin et al. 2018): D judges m samples at once, all real or all fake, which penalises a generator
that covers few modes (a pack of fakes then lacks the diversity of a pack of reals).

D is wrapped so that it takes the usual batch of N samples, groups consecutive samples m at a time into N/m packed
inputs (concatenated along channels for images, along features for points) and returns N/m logits. Its first layer
reads m× as many channels/features; it starts as the original layer's weights repeated for every slot and scaled
by 1/√m, which keeps the pre-activation variance of m independent samples. The batch size must be divisible by m.

With a gradient penalty, each sample's gradient norm is its slice of the pack's gradient.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.errors import ConfigError
from ganbench.tricks.base import ORDER_STRUCTURE, TRICKS, Trick
from ganbench.tricks.surgery import first_layer, replace


class Packed(nn.Module):
    """Run ``net`` on packs of ``packing`` consecutive samples: (N, C, ...) → (N/m, m·C, ...) → N/m logits."""

    def __init__(self, net: nn.Module, packing: int):
        super().__init__()
        self.net, self.packing = net, packing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = x.shape[0], self.packing
        if n % m:
            raise ValueError(f"pacgan: batch of {n} samples is not a multiple of the packing {m}")
        return self.net(x.reshape(n // m, m * x.shape[1], *x.shape[2:]))


def widen_input(layer: nn.Conv2d | nn.Linear, packing: int) -> nn.Conv2d | nn.Linear:
    """A copy of ``layer`` that reads ``packing`` samples side by side (weights repeated, scaled 1/√packing)."""
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            raise ValueError("pacgan: cannot widen a grouped convolution")
        new: nn.Conv2d | nn.Linear = nn.Conv2d(
            layer.in_channels * packing, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode)
        repeats = (1, packing, 1, 1)
    else:
        new = nn.Linear(layer.in_features * packing, layer.out_features, bias=layer.bias is not None)
        repeats = (1, packing)
    with torch.no_grad():
        new.weight.copy_(layer.weight.repeat(*repeats) / math.sqrt(packing))
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    return new


@TRICKS.register("pacgan")
class PacGAN(Trick):
    defaults = {"packing": 2}
    citation = "Lin et al., PacGAN: The power of two samples in generative adversarial networks (NeurIPS 2018)"
    order = ORDER_STRUCTURE

    def __init__(self, options, key):
        super().__init__(options, key)
        if not isinstance(self.options["packing"], int) or self.options["packing"] < 1:
            raise ConfigError(f"{key}.packing: expected an integer >= 1, got {self.options['packing']!r}")

    @classmethod
    def validate(cls, settings, key):
        m = int(cls.configured(settings, key)["packing"])
        if settings["batch_size"] % m:
            raise ConfigError(f"{key}.packing: batch_size {settings['batch_size']} is not a multiple of the "
                              f"packing {m}")

    def on_discriminator(self, D, gan):
        m = int(self.options["packing"])
        name, layer = first_layer(D)
        replace(D, name, widen_input(layer, m))
        return Packed(D, m)
