"""Style mixing at test time (Karras et al. 2019, Table 2): FID of images whose synthesis layers read k different
latents, k = 1 … ``MAX_LATENTS``.

Each sample draws k codes; the k mapped (and ψ-truncated) w switch at k − 1 distinct crossover layers drawn
uniformly (``StyleGenerator.generate_mixed``), so every latent controls at least one layer. The codes are drawn from
the evaluation seed exactly as ``ganbench.metrics.evaluate.generate`` draws the codes of ordinary sampling (the k
codes of a sample are k consecutive draws), the crossovers from a second generator, and the per-pixel noise inputs
with the same per-batch seeds (``evaluate.seeded``): k = 1 gives the very images of ordinary sampling, so its FID is
the run's FID. A conditional generator keeps one label per sample for all k latents.

Only style-based generators (``stylegan`` with ``styles: true``) can mix; with fewer layers than k (``num_ws``) the
FID for k is NaN.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import torch

MAX_LATENTS = 4
MIXED_FID_METRICS = tuple(f"fid_mix{k}" for k in range(1, MAX_LATENTS + 1))


def style_options(settings: dict[str, Any]) -> dict[str, Any] | None:
    """The resolved architecture options of a style-based run (``stylegan`` with styles on), else None."""
    from ganbench.models import ARCHITECTURES

    arch = settings["architecture"]
    if arch["name"] != "stylegan":
        return None
    options = {**ARCHITECTURES.get("stylegan").defaults, **{k: v for k, v in arch.items() if k != "name"}}
    return options if options["styles"] else None


def style_parts(net: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """(the StyleGenerator inside ``net``, codes(z) for its mapping network): ``z`` (N, k, z_dim) → (N, k, code
    size); a conditional sampler appends each sample's balanced label to all k of its latents."""
    from ganbench.train.conditioning import LabelledSampler, balanced_labels

    if not isinstance(net, LabelledSampler):
        return net, lambda z: z
    conditioning = net.conditioning

    def codes(z: torch.Tensor) -> torch.Tensor:
        labels = balanced_labels(z.shape[0], conditioning.k, z.device)
        return torch.stack([conditioning.code(z[:, j], labels) for j in range(z.shape[1])], 1)

    return net.generator, codes


def mixed_batches(net: torch.nn.Module, z_dim: int, k: int, n: int, batch_size: int, seed: int,
                  device: torch.device) -> Iterator[torch.Tensor]:
    """``n`` images in [−1, 1], each from ``k`` latents mixed at random crossover layers (k = 1: ordinary
    sampling, the same images as ``evaluate.generate`` with this seed)."""
    from ganbench.metrics.evaluate import seeded

    generator, codes = style_parts(net)
    z_gen = torch.Generator().manual_seed(seed)
    cut_gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for index, start in enumerate(range(0, n, batch_size)):
            z = torch.randn(min(batch_size, n - start), k, z_dim, generator=z_gen).to(device)
            with seeded(seed, index, device):
                images = generator.generate_mixed(codes(z), generator=cut_gen)
            yield images.float()


def mixed_fids(fid_of: Callable[[int], float], num_ws: int, fid: float | None = None) -> dict[str, float]:
    """``fid_mix{k}`` for k = 1 … ``MAX_LATENTS``: ``fid_of(k)`` where the generator has enough layers (k ≤
    ``num_ws``), NaN where not; ``fid``: the run's FID, which is k = 1's (not measured again)."""
    out = {}
    for k in range(1, MAX_LATENTS + 1):
        if k == 1 and fid is not None:
            out["fid_mix1"] = float(fid)
        else:
            out[f"fid_mix{k}"] = fid_of(k) if k <= num_ws else math.nan
    return out
