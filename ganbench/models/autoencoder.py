"""The lecture's convolutional autoencoder (the Keras example), made generative by a Gaussian fitted to its codes.

encoder: [Conv2D(f, 3×3, same) → ReLU → MaxPooling(2×2)] for f in ``filters`` (32, 16): 28×28×1 → 7×7×16.
decoder: [Conv2D(f, 3×3, same) → ReLU → UpSampling(2×2, nearest)] for f in reversed ``filters``, then
Conv2D(C, 3×3, same) → sigmoid. Glorot-uniform weights and zero biases, as Keras initialises them.

A plain autoencoder has no prior to sample from. The standard way to compare it with generative models is to fit a
Gaussian to the codes of the training images and decode samples of it (ex-post density estimation, e.g. Ghosh et
al. 2020, "From Variational to Deterministic Autoencoders"). ``generator()`` is that sampler as one network,
``FittedGaussianDecoder``: z ~ N(0, I) → mean + basis·z → decoder. Its buffers ``mean`` and ``basis`` hold the
fitted Gaussian, so ``generator.pt`` carries it and evaluation needs nothing else. The code has
filters[-1]·(H/2ⁿ)·(W/2ⁿ) dimensions (784 for 28×28) and z only z_dim, so the Gaussian is restricted to the top
z_dim principal directions of the code covariance (the best rank-z_dim Gaussian; all of it when z_dim is large
enough).

Images are in [-1, 1] everywhere else in ganbench, so the decoder's output is 2·sigmoid(a) − 1: the lecture's
sigmoid image in [0, 1], rescaled to the range the evaluation pipeline maps to uint8. Training
(``ganbench.train.autoencoders.AutoencoderModel``) uses the logits ``a`` with binary cross-entropy on [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.errors import ConfigError
from ganbench.models.base import ARCHITECTURES, EncoderDecoder, xavier_conv


class SigmoidDecoder(nn.Module):
    """code → image: ``logits`` is the conv stack, the output 2·sigmoid(logits) − 1 lies in [-1, 1]."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.body(code)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sigmoid(self.body(code)) - 1.0


class FittedGaussianDecoder(nn.Module):
    """z (N×z_dim) ~ N(0, I) → decoder(mean + z·basisᵀ): samples of a Gaussian over the codes, decoded.

    ``fit`` sets the Gaussian from a code mean and covariance; until then (mean and basis zero) every z decodes to
    the image of the zero code."""

    def __init__(self, decoder: SigmoidDecoder, code_shape: tuple[int, ...], z_dim: int):
        super().__init__()
        self.decoder = decoder
        self.code_shape = tuple(code_shape)
        code_dim = math.prod(self.code_shape)
        self.register_buffer("mean", torch.zeros(code_dim))
        self.register_buffer("basis", torch.zeros(code_dim, z_dim))

    @torch.no_grad()
    def fit(self, mean: torch.Tensor, cov: torch.Tensor) -> None:
        """basis = the top principal directions of ``cov``, each scaled by the square root of its variance."""
        values, vectors = torch.linalg.eigh(cov.double())  # ascending
        k = min(self.basis.shape[1], values.numel())
        top = vectors[:, -k:].flip(1) * values[-k:].flip(0).clamp_min(0.0).sqrt()
        self.mean.copy_(mean)
        self.basis.zero_()
        self.basis[:, :k] = top.to(self.basis.dtype)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        code = self.mean + z @ self.basis.T
        return self.decoder(code.view(z.shape[0], *self.code_shape))


@ARCHITECTURES.register("autoencoder")
class ConvAutoencoder(EncoderDecoder):
    """Options: ``filters``, the encoder's conv widths, one 2×2 pooling each (the decoder mirrors them)."""

    kinds = ("image",)
    defaults = {"filters": [32, 16]}
    training_model = "autoencoder"

    @classmethod
    def supports(cls, kind, shape):
        reason = super().supports(kind, shape)
        if reason is None and (shape[1] != shape[2] or shape[1] % 4):
            reason = f"needs square images whose size is a multiple of 4, not {shape[1]}×{shape[2]}"
        return reason

    def __init__(self, shape: tuple[int, ...], kind: str, z_dim: int, num_classes: int, options: dict | None,
                 key: str):
        super().__init__(shape, kind, z_dim, num_classes, options, key)
        self.filters = [int(f) for f in self.options["filters"]]
        if not self.filters or any(f < 1 for f in self.filters):
            raise ConfigError(f"{key}.filters: expected a non-empty list of positive widths, "
                              f"got {self.options['filters']!r}")
        scale = 2 ** len(self.filters)
        if self.shape[1] % scale:
            raise ConfigError(f"{key}.filters: {len(self.filters)} poolings need images whose size is a multiple "
                              f"of {scale}, not {self.shape[1]}")
        self.code_shape = (self.filters[-1], self.shape[1] // scale, self.shape[2] // scale)

    def encoder(self) -> nn.Module:
        """x (N×C×H×W in [-1, 1]) → code (N × filters[-1] × H/2ⁿ × W/2ⁿ)."""
        layers: list[nn.Module] = []
        c_in = self.shape[0]
        for f in self.filters:
            layers += [xavier_conv(c_in, f), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = f
        return nn.Sequential(*layers)

    def decoder(self) -> SigmoidDecoder:
        layers: list[nn.Module] = []
        c_in = self.filters[-1]
        for f in reversed(self.filters):
            layers += [xavier_conv(c_in, f), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest")]
            c_in = f
        layers.append(xavier_conv(c_in, self.shape[0]))
        return SigmoidDecoder(nn.Sequential(*layers))

    def generator(self) -> FittedGaussianDecoder:
        return FittedGaussianDecoder(self.decoder(), self.code_shape, self.z_dim)
