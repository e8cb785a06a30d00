"""DCGAN (Radford et al. 2016) for 28×28, 32×32 and 64×64 images.

No pooling: the generator upsamples with stride-2 transposed convolutions, the discriminator downsamples with
stride-2 convolutions. BatchNorm in both (not on G's output nor D's input), ReLU in G, LeakyReLU(0.2) in D,
Tanh output. ``layernorm_d`` puts layer normalisation where D's BatchNorm would be (``GroupNorm`` with one group:
each sample normalised over its channels and pixels, with a per-channel affine), the critic normalisation of
Gulrajani et al. (2017, Sec. 4) for a gradient penalty; it replaces ``batchnorm_d``, so set that false.
28×28 starts from a 7×7 map (two upsamplings), 32 and 64 from 4×4 (three and four). The transposed
convolutions are ``ganbench.models.conv_transpose.ConvTranspose2d``: ``nn.ConvTranspose2d`` with a faster CPU path
for the few-channel output layer. The activations work in place (as in the PyTorch DCGAN example): they overwrite
the convolution's or normalisation's output, which no backward formula needs, instead of writing a new tensor.
"""

from __future__ import annotations

from torch import nn

from ganbench.errors import ConfigError
from ganbench.models.base import ARCHITECTURES, Architecture, Reshape, init_dcgan_weights
from ganbench.models.conv_transpose import ConvTranspose2d

_START = {28: 7, 32: 4, 64: 4}


@ARCHITECTURES.register("dcgan")
class DCGAN(Architecture):
    kinds = ("image",)
    defaults = {"width": 64, "batchnorm_g": True, "batchnorm_d": True, "layernorm_d": False}

    def __init__(self, shape, kind, z_dim, num_classes, options, key):
        super().__init__(shape, kind, z_dim, num_classes, options, key)
        if self.options["batchnorm_d"] and self.options["layernorm_d"]:
            raise ConfigError(f"{key}.layernorm_d: D normalises with BatchNorm or layer norm, not both; "
                              f"set batchnorm_d: false")

    @classmethod
    def d_batch_norm(cls, options):
        return bool({**cls.defaults, **options}["batchnorm_d"])

    @classmethod
    def supports(cls, kind, shape):
        return cls.square_image_reason(kind, shape, _START)

    def _plan(self) -> tuple[int, list[int]]:
        size = self.shape[1]
        start = _START[size]
        ups = (size // start).bit_length() - 1
        width = int(self.options["width"])
        channels = [width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. [4w, 2w, w] for 64×64... widest first
        return start, channels

    def generator(self) -> nn.Module:
        start, channels = self._plan()
        bn = self.options["batchnorm_g"]
        layers: list[nn.Module] = [nn.Linear(self.z_dim, channels[0] * start * start, bias=not bn),
                                   Reshape(channels[0], start, start)]
        if bn:
            layers.append(nn.BatchNorm2d(channels[0]))
        layers.append(nn.ReLU(inplace=True))
        for c_in, c_out in zip(channels, channels[1:]):
            layers.append(ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        layers += [ConvTranspose2d(channels[-1], self.shape[0], 4, 2, 1), nn.Tanh()]  # fast on the CPU (its module)
        net = nn.Sequential(*layers)
        init_dcgan_weights(net)
        return net

    def discriminator(self) -> nn.Module:
        start, channels = self._plan()
        bn, ln = self.options["batchnorm_d"], self.options["layernorm_d"]
        rev = channels[::-1]  # narrowest first
        layers: list[nn.Module] = [nn.Conv2d(self.shape[0], rev[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(rev, rev[1:]):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not (bn or ln)))
            if bn:
                layers.append(nn.BatchNorm2d(c_out))
            if ln:
                layers.append(nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers += [nn.Flatten(), nn.Linear(rev[-1] * start * start, 1), nn.Flatten(0)]
        net = nn.Sequential(*layers)
        init_dcgan_weights(net)
        return net
