"""The SNGAN ResNet (Miyato et al. 2018, Appendix B, Table 4: the CIFAR-10 ResNet) for 28, 32 and 64 pixel images.

G: z → Linear → start×start×ch_g (4×4 for 32 and 64, 7×7 for 28) → up-residual blocks until the image size
(three for 32×32) → BatchNorm → ReLU → 3×3 conv → Tanh. An up block is BN → ReLU → nearest ×2 upsampling → 3×3
conv → BN → ReLU → 3×3 conv, with a shortcut of upsampling and a 1×1 conv.

D: an "optimised" first block (3×3 conv → ReLU → 3×3 conv → 2×2 average pooling; shortcut: pooling then a 1×1
conv), more down blocks (ReLU → 3×3 conv → ReLU → 3×3 conv → pooling; shortcut: 1×1 conv then pooling) until the
map is at most 8×8, then two blocks at that size (identity shortcut) → ReLU → global sum pooling → Linear(1).
For 32×32 that is the paper's four blocks (two down, two plain) of ch_d channels.

D carries no normalisation of its own: the paper's spectral normalisation is the ``spectral_norm`` trick. Weights
follow the reference implementation: Glorot-uniform, with gain √2 on the convolutions inside residual branches.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.models.base import ARCHITECTURES, Architecture, Reshape, xavier_conv

_START = {28: 7, 32: 4, 64: 4}  # G's first feature map for each image size
_D_TOP = 8  # D downsamples until its map is at most this wide


def _conv3(c_in: int, c_out: int, gain: float = math.sqrt(2)) -> nn.Conv2d:
    return xavier_conv(c_in, c_out, 3, gain)  # √2 inside the residual branches (ReLU), as in SNGAN


def _conv1(c_in: int, c_out: int) -> nn.Conv2d:
    return xavier_conv(c_in, c_out, 1)


class UpBlock(nn.Module):
    """G's residual block: doubles the resolution."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), _conv3(c_in, c_out),
            nn.BatchNorm2d(c_out), nn.ReLU(), _conv3(c_out, c_out),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv1(c_in, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """D's residual block; ``first`` is the optimised input block (no leading ReLU, pool before the shortcut conv)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool = False):
        super().__init__()
        pool: list[nn.Module] = [nn.AvgPool2d(2)] if downsample else []
        layers: list[nn.Module] = [] if first else [nn.ReLU()]
        layers += [_conv3(c_in, c_out), nn.ReLU(), _conv3(c_out, c_out), *pool]
        self.residual = nn.Sequential(*layers)
        if first:
            self.shortcut: nn.Module = nn.Sequential(*pool, _conv1(c_in, c_out))
        elif downsample or c_in != c_out:
            self.shortcut = nn.Sequential(_conv1(c_in, c_out), *pool)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class SumPool(nn.Module):
    """Global sum pooling over the spatial dimensions: N×C×H×W → N×C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(2, 3))


@ARCHITECTURES.register("resnet")
class ResNet(Architecture):
    """Options: ``ch_g`` and ``ch_d``, the channels of G's and D's blocks (256 and 128 in the paper)."""

    kinds = ("image",)
    defaults = {"ch_g": 256, "ch_d": 128}

    @classmethod
    def supports(cls, kind, shape):
        return cls.square_image_reason(kind, shape, _START)

    def generator(self) -> nn.Module:
        size, ch = self.shape[1], int(self.options["ch_g"])
        start = _START[size]
        ups = (size // start).bit_length() - 1
        linear = nn.Linear(self.z_dim, ch * start * start)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(
            linear, Reshape(ch, start, start), *(UpBlock(ch, ch) for _ in range(ups)),
            nn.BatchNorm2d(ch), nn.ReLU(), _conv3(ch, self.shape[0], gain=1.0), nn.Tanh(),
        )

    def discriminator(self) -> nn.Module:
        size, ch = self.shape[1], int(self.options["ch_d"])
        downs = max(1, math.ceil(math.log2(size / _D_TOP)))
        blocks = [DownBlock(self.shape[0], ch, downsample=True, first=True)]
        blocks += [DownBlock(ch, ch, downsample=True) for _ in range(downs - 1)]
        blocks += [DownBlock(ch, ch, downsample=False) for _ in range(2)]
        head = nn.Linear(ch, 1)
        nn.init.xavier_uniform_(head.weight)
        nn.init.zeros_(head.bias)
        return nn.Sequential(*blocks, nn.ReLU(), SumPool(), head, nn.Flatten(0))
