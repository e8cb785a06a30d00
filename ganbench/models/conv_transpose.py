"""A transposed convolution that samples fast on the CPU when it has few output channels.

A DCGAN generator ends in ``ConvTranspose2d(C, 1, 4, 2, 1)`` (or 3 output channels for RGB). PyTorch's CPU kernel
(oneDNN) runs such a layer at a few GFLOP/s: on Fashion-MNIST's DCGAN (width 32) the last layer, 5 % of the
generator's multiply-adds, took nearly 40 % of its forward time, which is most of what evaluating a DCGAN run costs
besides the feature network. A transposed convolution is a matrix product followed by col2im: every input pixel's
C_in values times the weight, viewed as a C_in × (C_out·k·k) matrix, give the C_out·k·k output values it contributes
to, which ``F.fold`` adds into place. Done as one matrix product over the whole batch ((C_out·k·k × C_in) ·
(C_in × N·h·w), the input's channels moved to the front first), it is 1.2–1.3× the per-sample products this module
used before and 2–6× PyTorch's kernel (batch 500, one thread; with one to four output channels; beyond that
PyTorch's kernel wins). It is used without gradients (sampling, evaluation, snapshots), not under CPU bf16 autocast
(where oneDNN's bf16 kernel is as fast). With gradients it is 1.5× PyTorch's kernel on the layer (forward +
backward, batch 64, one output channel) but gains nothing measurable on a whole DCGAN training step (the copies and
col2im/im2col it adds take what the convolution saves; ``train_throughput.py --profile``), so training keeps
PyTorch's kernel and its exact numerics. Everything else (GPU tensors, groups, output padding, an explicit
``output_size``) is ``nn.ConvTranspose2d.forward`` itself. Measurements: ``benchmarks/README.md``.

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
                or self.padding_mode != "zeros" or torch.is_autocast_enabled("cpu")):
            return False
        # (the parameters, not self.weight: a spectral-normalised weight would run a power iteration when read)
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
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
