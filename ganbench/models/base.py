"""The architecture interface: a registered family builds the networks of one model for a data shape.

Every family builds a generator, the network that maps z ~ N(0, I) to samples (what evaluation rebuilds from
``generator.pt``). A GAN family (``Architecture``) also builds a discriminator; a non-adversarial baseline
(``EncoderDecoder``: the VAE, the autoencoder) builds an encoder instead and has no discriminator at all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ganbench.options import resolve_options
from ganbench.registry import Registry

ARCHITECTURES: Registry[type["ModelFamily"]] = Registry("architecture")


class ModelFamily(ABC):
    """The networks of one model for data of one shape.

    ``shape`` is one sample's shape ((C, H, W) or (D,)); ``kind`` is "image" or "points"; ``num_classes`` > 0 makes
    conditional GANs possible (``ganbench.train.conditioning``: G is then built with z_dim + K inputs and, for
    ``concat``, D with K extra input channels or features; the architecture itself needs nothing special).

    ``training_model`` names the entry of ``ganbench.train.models.TRAINING_MODELS`` that trains this family: "gan"
    (G against D) for the ``Architecture`` families; the ``EncoderDecoder`` baselines name their own.
    """

    kinds: ClassVar[tuple[str, ...]] = ("image", "points")
    defaults: ClassVar[dict[str, Any]] = {}
    training_model: ClassVar[str] = "gan"

    def __init__(self, shape: tuple[int, ...], kind: str, z_dim: int, num_classes: int, options: dict | None, key: str):
        self.shape = tuple(shape)
        self.kind = kind
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.options = resolve_options(self.defaults, options, key)

    @classmethod
    def supports(cls, kind: str, shape: tuple[int, ...]) -> str | None:
        """None when this family can model data of this kind and shape, else the reason it cannot."""
        if kind not in cls.kinds:
            return f"handles {' or '.join(cls.kinds)} data, not {kind}"
        return None

    @classmethod
    def square_image_reason(cls, kind: str, shape: tuple[int, ...], sizes) -> str | None:
        """``supports`` for families of square images of the given sizes (in pixels)."""
        reason = ModelFamily.supports.__func__(cls, kind, shape)
        if reason is None and (shape[1] != shape[2] or shape[1] not in sizes):
            names = ", ".join(map(str, sorted(sizes)))
            reason = f"needs square {names} pixel images, not {shape[1]}×{shape[2]}"
        return reason

    @abstractmethod
    def generator(self) -> nn.Module: ...

    @property
    def out_dim(self) -> int:
        return math.prod(self.shape)


class Architecture(ModelFamily):
    """A (generator, discriminator) family. The discriminator returns one logit per input: a tensor of shape (N,)."""

    @classmethod
    def d_batch_norm(cls, options: dict[str, Any]) -> bool:
        """Whether the discriminator built with these (already checked) options normalises over the batch
        (BatchNorm): its output for one sample then depends on the others, which a per-sample gradient penalty rules
        out. The families without BatchNorm in D keep this default."""
        return False

    @abstractmethod
    def discriminator(self) -> nn.Module: ...


class EncoderDecoder(ModelFamily):
    """A non-adversarial baseline: ``generator()`` decodes z ~ N(0, I) into samples like any G, ``encoder()`` maps
    samples to codes; its ``training_model`` trains the pair."""

    kinds = ("image",)

    @abstractmethod
    def encoder(self) -> nn.Module: ...


def output_activation(kind: str) -> nn.Module:
    """Images live in [-1, 1] (Tanh, as in the lecture's generator); points are unbounded."""
    return nn.Tanh() if kind == "image" else nn.Identity()


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def xavier_conv(c_in: int, c_out: int, kernel: int = 3, gain: float = 1.0) -> nn.Conv2d:
    """A stride-1, same-padding convolution with Glorot-uniform weights (scaled by ``gain``) and zero bias."""
    conv = nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)
