"""A transposed convolution that samples fast on the CPU when it has few output channels.

A DCGAN generator ends in ``ConvTranspose2d(C, 1, 4, 2, 1)`` (or 3 output channels for RGB). PyTorch's CPU kernel
runs such a layer at a few GFLOP/s: on Fashion-MNIST's DCGAN (width 32) the last layer, 5 % of the generator's
multiply-adds, took nearly 40 % of its forward time, which is most of what evaluating a DCGAN run costs besides
the feature network. A transposed convolution is a matrix product followed by col2im: every input pixel's C_in
values times the weight, viewed as a C_in × (C_out·k·k) matrix, give the C_out·k·k output values it contributes
to, which ``F.fold`` adds into place. Without gradients (sampling, evaluation, snapshots) this is ≈ 6× faster with
one output channel and 2–3× with three or four (batch 500, one thread); beyond that PyTorch's kernel wins. With
gradients the gain is small (≈ 1.6× on the layer, ≈ 3 % of a DCGAN training step, within the noise of a
throughput measurement; the backward is slower for 3 channels), so training keeps PyTorch's kernel and its exact
numerics. Everything else (GPU tensors, groups, output padding, an explicit ``output_size``) is
``nn.ConvTranspose2d.forward`` itself. Measurements: ``benchmarks/README.md``.

Same parameters, state dict and function as ``nn.ConvTranspose2d`` (it is one: ``isinstance`` checks, weight
initialisation and spectral normalisation see the usual layer); the outputs differ by float rounding only
(``tests/test_models.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FOLD_MAX_OUT_CHANNELS = 4  # the fold path for at most this many output channels, without gradients


class ConvTranspose2d(nn.ConvTranspose2d):
    def uses_fold(self, x: torch.Tensor) -> bool:
        """Whether ``forward(x)`` takes the matrix-product + col2im path."""
        if (x.device.type != "cpu" or x.dim() != 4 or self.groups != 1 or any(self.output_padding)
                or self.padding_mode != "zeros"):
            return False
        # (the parameters, not self.weight: a spectral-normalised weight would run a power iteration when read)
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
            return False
        return self.out_channels <= FOLD_MAX_OUT_CHANNELS

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not self.uses_fold(input):
            return super().forward(input, output_size)
        n, c, h, w = input.shape
        weight = self.weight  # (C_in, C_out, kh, kw); a parametrised weight (spectral norm) is computed here
        cols = torch.matmul(weight.reshape(c, -1).T, input.reshape(n, c, h * w))  # n × (C_out·kh·kw) × (h·w)
        size = [(s - 1) * st - 2 * p + d * (k - 1) + 1
                for s, st, p, d, k in zip((h, w), self.stride, self.padding, self.dilation, self.kernel_size)]
        out = F.fold(cols, size, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1).to(out.dtype)
