"""The lecture's vanilla GAN: fully connected layers.

G: noise → [Linear → ReLU] × layers → Linear(prod(shape)) → Tanh (images; identity for 2-D points).
D: flatten → [Linear → LeakyReLU(0.2) (or ReLU)] × layers → Linear(1): one logit (the sigmoid lives in the loss).
The hidden activations work in place on the Linear's (or BatchNorm's) output, which no backward formula needs.
"""

from __future__ import annotations

from torch import nn

from ganbench.models.base import ARCHITECTURES, Architecture, Reshape, output_activation


def _activation(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.LeakyReLU(0.2, inplace=True)


@ARCHITECTURES.register("mlp")
class MLP(Architecture):
    defaults = {"hidden": 256, "layers": 2, "d_activation": "leaky_relu", "batchnorm_g": False}

    def generator(self) -> nn.Module:
        hidden, layers = int(self.options["hidden"]), int(self.options["layers"])
        blocks: list[nn.Module] = []
        width = self.z_dim
        for _ in range(layers):
            blocks.append(nn.Linear(width, hidden))
            if self.options["batchnorm_g"]:
                blocks.append(nn.BatchNorm1d(hidden))
            blocks.append(nn.ReLU(inplace=True))
            width = hidden
        blocks += [nn.Linear(width, self.out_dim), output_activation(self.kind), Reshape(*self.shape)]
        return nn.Sequential(*blocks)

    def discriminator(self) -> nn.Module:
        hidden, layers = int(self.options["hidden"]), int(self.options["layers"])
        blocks: list[nn.Module] = [nn.Flatten()]
        width = self.out_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), _activation(self.options["d_activation"])]
            width = hidden
        blocks += [nn.Linear(width, 1), nn.Flatten(0)]
        return nn.Sequential(*blocks)
