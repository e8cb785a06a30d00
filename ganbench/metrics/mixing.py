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
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from ganbench.metrics.registry import Score, metric

if TYPE_CHECKING:
    from ganbench.metrics.context import RunContext

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
    from ganbench.metrics.context import seeded

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


def _is_style_based(settings: dict[str, Any]) -> bool:
    return style_options(settings) is not None


def _score(k: int) -> Score:
    return Score(f"fid_mix{k}", f"FID, {k} latent{'s' if k > 1 else ''} mixed", "lower", "{:.2f}",
                 lambda o: f"FID of {o['num_samples']} samples whose layers read {k} different w switched at random "
                           "crossover layers (Karras et al. 2019, Table 2; style-based generators; 1 latent is the "
                           "FID of ordinary sampling)")


@metric("mixing", kinds=("image",), needs=("features",), when=_is_style_based, position=15,
        scores=tuple(_score(k) for k in range(1, MAX_LATENTS + 1)))
def mixed_fid(ctx: RunContext) -> dict[str, Any]:
    """FID with k = 1 … 4 latents mixed at test time; k = 1 is the run's FID (the same samples)."""
    from ganbench.metrics.extractors import FID
    from ganbench.metrics.fidelity import fid_from_features
    from ganbench.train.trainer import to_uint8

    net, z_dim = ctx.generator
    bs, seed = int(ctx.options["batch_size"]), int(ctx.options["seed"])

    def fid(features: torch.Tensor) -> float:
        return fid_from_features(features, ctx.real[FID], ctx.real.get("fid_stats"))

    def fid_of(k: int) -> float:
        batches = (to_uint8(x) for x in mixed_batches(net, z_dim, k, ctx.n, bs, seed, ctx.device))
        return fid(ctx.pipeline(batches, roles=[FID])[FID])

    return mixed_fids(fid_of, style_parts(net)[0].num_ws, fid(ctx.generated[FID]))
