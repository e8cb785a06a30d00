#!/usr/bin/env python
"""What the tight loop's step could still gain: variants of train_throughput.py's tight reference (c), timed
against it in one process, for the issue-19 target (>= 1.3x the tight loop in fp32).

Every variant trains the same networks (``train_throughput.tight_networks``, the same initial weights) with the same
loss (non-saturating), Adam (fused, 2e-4, (0.5, 0.999)) and batch 64 on a preloaded float32 tensor, and does what the
tight loop does (one G forward per iteration, D frozen in G's step). What each changes:

  c            the tight loop's step itself (two D passes in D's step: real, then fake)
  cat          D's step runs D once on the concatenated real and fake batches (as BigGAN's code does). D's batch
               norm (DCGAN) still normalises each half by its own statistics, so this is the same function as c
               (the running statistics too: updated once per half, in the same order), rounding aside
  compile      ``torch.compile`` of G and D (inductor's default mode; C++ kernels for the elementwise ops and
               batch norm, oneDNN/MKL for convolutions and matrix products)
  compile-max  ``torch.compile(mode="max-autotune-no-cudagraphs")``: inductor's own C++ GEMM templates are tried
               against MKL for every matrix product
  thnn         DCGAN with oneDNN switched off (``torch.backends.mkldnn.flags(enabled=False)``): PyTorch's own
               im2col + matrix-product convolutions

The variants interleave step by step in a shuffled order after a warm-up (compilation included), each step timed in
thread CPU time (robust against other processes taking the cores); printed: the 20th percentile (the least
disturbed steps) and the median per step, and c's time over each variant's (> 1: the variant is faster).

Run:  .venv/bin/python benchmarks/step_variants.py [--models dcgan mlp] [--variants c cat compile compile-max thnn]
          [--steps 200] [--warmup 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt  # noqa: E402  (its networks and settings; it imports ganbench first)
from ganbench.device import configure_threads  # noqa: E402

VARIANTS = ("c", "cat", "compile", "compile-max", "thnn")


class PerHalfBatchNorm(nn.Module):
    """A batch norm that, for a batch of ``halves`` concatenated batches, normalises each by its own statistics
    (what separate forward passes would do); the wrapped layer's parameters and running statistics are used."""

    def __init__(self, bn: nn.Module):
        super().__init__()
        self.bn = bn
        self.halves = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.halves == 1:
            return self.bn(x)
        return torch.cat([self.bn(part) for part in x.chunk(self.halves)])


class Step:
    def __init__(self, model: str, variant: str, data: torch.Tensor):
        G, D = tt.tight_networks(tt.settings_for(model, 1))
        if variant == "cat":
            for i, layer in enumerate(D):
                if isinstance(layer, nn.BatchNorm2d):
                    D[i] = PerHalfBatchNorm(layer)
        self.G, self.D = G, D
        if variant.startswith("compile"):
            # every nn.Sequential shares one forward code object, so the compiled G, D and frozen D of every
            # variant count against one recompile limit; above the default (8) the rest would run uncompiled
            torch._dynamo.config.recompile_limit = 64
            mode = "max-autotune-no-cudagraphs" if variant == "compile-max" else "default"
            self.G, self.D_call = torch.compile(G, mode=mode), torch.compile(D, mode=mode)
        else:
            self.D_call = D
        spec = tt.MODELS[model]
        self.optD = torch.optim.Adam(D.parameters(), spec["lr"], betas=spec["betas"], fused=True)
        self.optG = torch.optim.Adam(G.parameters(), spec["lr"], betas=spec["betas"], fused=True)
        self.cat = variant == "cat"
        self.backend = (lambda: torch.backends.mkldnn.flags(enabled=False)) if variant == "thnn" else nullcontext
        self.data = data
        self.ones, self.zeros = torch.ones(tt.BATCH), torch.zeros(tt.BATCH)
        self.targets = torch.cat([self.ones, self.zeros])

    def _halves(self, n: int) -> None:
        for layer in self.D.modules():
            if isinstance(layer, PerHalfBatchNorm):
                layer.halves = n

    def __call__(self) -> None:
        with self.backend():
            real = self.data[torch.randint(0, self.data.shape[0], (tt.BATCH,))]
            fake = self.G(torch.randn(tt.BATCH, tt.Z_DIM))
            if self.cat:
                self._halves(2)
                logits = self.D_call(torch.cat([real, fake.detach()])).view(-1)
                self._halves(1)
                # the sum of the two halves' mean losses, as c computes it
                loss_d = F.binary_cross_entropy_with_logits(logits, self.targets, reduction="sum") / tt.BATCH
            else:
                loss_d = (F.binary_cross_entropy_with_logits(self.D_call(real).view(-1), self.ones)
                          + F.binary_cross_entropy_with_logits(self.D_call(fake.detach()).view(-1), self.zeros))
            self.optD.zero_grad(set_to_none=True)
            loss_d.backward()
            self.optD.step()
            self.D.requires_grad_(False)
            loss_g = F.binary_cross_entropy_with_logits(self.D_call(fake).view(-1), self.ones)
            self.optG.zero_grad(set_to_none=True)
            loss_g.backward()
            self.optG.step()
            self.D.requires_grad_(True)


def measure(model: str, variants: list[str], steps: int, warmup: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    data = torch.rand(20000, *tt.SHAPE) * 2 - 1  # the step's cost does not depend on the pixel values
    runs = {}
    for variant in variants:
        torch.manual_seed(0)  # the same initial weights for every variant
        runs[variant] = Step(model, variant, data)
        for _ in range(warmup):
            runs[variant]()
    times: dict[str, list[float]] = {v: [] for v in variants}
    order = list(variants)
    for _ in range(steps):
        random.shuffle(order)
        for variant in order:
            start = time.thread_time()
            runs[variant]()
            times[variant].append(time.thread_time() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["dcgan", "mlp"], choices=["dcgan", "mlp"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    configure_threads(1)  # one thread and ganbench's allocator setting, as a Snakemake train job runs
    variants = ["c", *[v for v in args.variants if v != "c"]]
    print(f"torch {torch.__version__}, 1 thread, {args.steps} steps per variant (after {args.warmup} untimed)")
    for model in args.models:
        chosen = [v for v in variants if not (v == "thnn" and model != "dcgan")]
        times = measure(model, chosen, args.steps, args.warmup)
        base_p20 = base_med = None
        for variant, ts in times.items():
            ts.sort()
            p20, med = ts[len(ts) // 5], statistics.median(ts)
            base_p20, base_med = base_p20 or p20, base_med or med
            print(f"{model:6s} {variant:12s} p20 {p20 * 1e3:7.2f} ms  median {med * 1e3:7.2f} ms   "
                  f"c/variant: p20 {base_p20 / p20:.2f}x  median {base_med / med:.2f}x", flush=True)


if __name__ == "__main__":
    main()
