"""A transposed convolution that runs fast on the CPU when it has few output channels.

A DCGAN generator ends in ``ConvTranspose2d(C, 1, 4, 2, 1)`` (or 3 output channels for RGB). PyTorch's CPU kernel
(oneDNN) runs such a layer at a few GFLOP/s: on Fashion-MNIST's DCGAN (width 32) the last layer, 5 % of the
generator's multiply-adds, took nearly 40 % of its forward time. A transposed convolution is a matrix product
followed by col2im: every input pixel's C_in values times the weight, viewed as a C_in × (C_out·k·k) matrix, give
the C_out·k·k output values it contributes to, which ``F.fold`` adds into place. Done as one matrix product over the
whole batch ((C_out·k·k × C_in) · (C_in × N·h·w), the input's channels moved to the front first), and with autograd
through ``matmul`` and ``fold`` (whose backward is ``unfold`` and two more single matrix products), it is faster
than PyTorch's kernel both when sampling (≈ 1.2–1.3× the per-sample product this module used before, itself 2–6×
PyTorch's kernel) and when training (forward + backward at batch 64: 1.5× with one output channel, ≈ 1.08× with
three or four; with eight PyTorch's kernel wins). Under CPU bf16 autocast PyTorch's kernel (oneDNN's bf16 path) is
as fast or faster, so it is used there. Everything else (GPU tensors, groups, output padding, an explicit
``output_size``) is ``nn.ConvTranspose2d.forward`` itself. Measurements: ``benchmarks/README.md``.

Same parameters, state dict and function as ``nn.ConvTranspose2d`` (it is one: ``isinstance`` checks, weight
initialisation and spectral normalisation see the usual layer); outputs and gradients differ by float rounding only
(``tests/test_models.py``), and double backward (gradient penalties) works as for any autograd expression.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FOLD_MAX_OUT_CHANNELS = 4  # the matrix-product + col2im path for at most this many output channels


class ConvTranspose2d(nn.ConvTranspose2d):
    def uses_fold(self, x: torch.Tensor) -> bool:
        """Whether ``forward(x)`` takes the matrix-product + col2im path."""
        if (x.device.type != "cpu" or x.dim() != 4 or self.groups != 1 or any(self.output_padding)
                or self.padding_mode != "zeros" or torch.is_autocast_enabled("cpu")):
            return False
        return self.out_channels <= FOLD_MAX_OUT_CHANNELS

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not self.uses_fold(input):
            return super().forward(input, output_size)
        n, c, h, w = input.shape
        weight = self.weight  # (C_in, C_out, kh, kw); a parametrised weight (spectral norm) is computed here, once
        pixels = input.transpose(0, 1).reshape(c, n * h * w)  # C_in × (N·h·w)
        cols = torch.matmul(weight.reshape(c, -1).T, pixels)  # (C_out·kh·kw) × (N·h·w)
        cols = cols.view(cols.shape[0], n, h * w).transpose(0, 1)  # N × (C_out·kh·kw) × (h·w)
        size = [(s - 1) * st - 2 * p + d * (k - 1) + 1
                for s, st, p, d, k in zip((h, w), self.stride, self.padding, self.dilation, self.kernel_size)]
        out = F.fold(cols, size, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1).to(out.dtype)
