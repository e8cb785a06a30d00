"""PacGAN packing (Lin et al. 2018): D judges m samples at once, all real or all fake, which penalises a generator
that covers few modes (a pack of fakes then lacks the diversity of a pack of reals).

As in the paper and its reference code (fjxmlzn/PacGAN), a minibatch holds ``batch_size`` packs: D still judges
``batch_size`` real and ``batch_size`` fake inputs per step, and each is m samples concatenated along channels
(images) or features (points), so the data source and G deliver m·batch_size samples per step. D is wrapped so that
it takes those samples, groups consecutive ones m at a time (both the data and G's samples are i.i.d., so
consecutive samples are a random grouping) and returns one logit per pack, which enters the loss like an unpacked
D's logit. Its first layer reads m× as many channels/features.

The widened first layer is initialised like the original, independently for each of the m slots: every slot's
weights are a random permutation of the original layer's weights (draws from the architecture's own initial
distribution), scaled by 1/√m so that the pre-activations of m independent samples keep the unpacked variance (for
PyTorch's default fan-in initialisation that is exactly a fresh m× wider layer). Repeating one set of weights for
every slot, as this trick once did, makes D a function of the pack's sum alone, and since the slots are exchangeable
the expected gradient keeps the slots identical: such a D cannot tell a ring of Gaussians from a structureless
cloud whose pack sums look alike, and training stalls at D(x) ≈ D(G(z)) ≈ 0.5.

With a gradient penalty, each sample's gradient norm is its slice of the pack's gradient.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.errors import ConfigError
from ganbench.options import COUNT
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
    """A copy of ``layer`` that reads ``packing`` samples side by side: each slot's weights an independent random
    permutation of the original weights, all scaled 1/√packing; the bias kept."""
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            raise ValueError("pacgan: cannot widen a grouped convolution")
        new: nn.Conv2d | nn.Linear = nn.Conv2d(
            layer.in_channels * packing, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode)
    else:
        new = nn.Linear(layer.in_features * packing, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        w = layer.weight
        slots = [w.flatten()[torch.randperm(w.numel(), device=w.device)].view_as(w) for _ in range(packing)]
        new.weight.copy_(torch.cat(slots, 1) / math.sqrt(packing))
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    return new


@TRICKS.register("pacgan")
class PacGAN(Trick):
    defaults = {"packing": 2}
    ranges = {"packing": COUNT}
    citation = "Lin et al., PacGAN: The power of two samples in generative adversarial networks (NeurIPS 2018)"
    order = ORDER_STRUCTURE

    @classmethod
    def validate(cls, settings, key):
        from ganbench.losses import LOSSES
        from ganbench.train.conditioning import CONDITIONINGS

        m = int(cls.configured(settings, key)["packing"])
        if LOSSES.get(settings["loss"]["name"]).wasserstein and settings["batch_size"] % m:
            # the Wasserstein estimate (ganbench.metrics.critic) evaluates the critic on batch_size samples
            raise ConfigError(f"{key}.packing: the critic estimate of a Wasserstein loss reads batches of batch_size "
                              f"{settings['batch_size']} samples, not a multiple of the packing {m}")
        conditioning = CONDITIONINGS.get(settings.get("conditional", "none"))
        if conditioning.separates_labels:
            raise ConfigError(f"{key}: packing stacks several samples into one D input, which a discriminator that "
                              f"reads the label apart from the image (conditional: "
                              f"{settings.get('conditional')}) cannot split; use conditional: concat")

    def on_discriminator(self, D, ctx):
        m = int(self.options["packing"])
        name, layer = first_layer(D)
        replace(D, name, widen_input(layer, m))
        return Packed(D, m)

    def on_models(self, ctx):
        ctx.set_batch_size(ctx.batch_size * int(self.options["packing"]))  # samples for batch_size packs
