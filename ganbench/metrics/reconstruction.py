"""Autoencoder and VAE evaluation, as in the lecture: how well the encoder–decoder pair reconstructs unseen images.

The non-adversarial baselines (``ganbench.train.autoencoders``) keep their encoder in the run's checkpoints
(``ckpt/step*.pt``, ``state["gan"]["encoder"]`` beside the decoder ``state["gan"]["G"]``: the newest one is the
final state). ``load_codec`` rebuilds both from the newest checkpoint; what "encode" and "decode" mean depends on
the model (``CODECS``, keyed by the architecture's ``training_model``):

- ``vae``: the code is the posterior mean μ(x) (the first z_dim outputs of the encoder), decoded by G;
- ``autoencoder``: the code is the encoder's output (filters × H/4 × W/4), decoded by G's decoder (G itself first
  maps z through the Gaussian fitted to the codes).

``reconstruction_metrics`` compares test images with their reconstructions: the binary cross-entropy in nats per
image (the training objective's reconstruction term, ``loss_d`` of the training log, here on the test split) and
the mean squared error per pixel of the [0, 1] intensities (comparable between models whatever their likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.errors import DataError
from ganbench.metrics.registry import Score, metric
from ganbench.registry import Registry

EPS = 1e-6  # intensities are clamped to [EPS, 1 − EPS] in the cross-entropy (a saturated pixel would give ±inf)


@dataclass(frozen=True)
class Codec:
    """How one kind of model encodes an image batch to codes and decodes codes back to images in [-1, 1]."""

    encode: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    decode: Callable[[nn.Module, torch.Tensor], torch.Tensor]


CODECS: Registry[Codec] = Registry("reconstruction model")
CODECS.register("vae")(Codec(lambda encoder, x: encoder(x).chunk(2, dim=1)[0], lambda G, z: G(z)))
CODECS.register("autoencoder")(Codec(lambda encoder, x: encoder(x), lambda G, code: G.decoder(code)))


def is_reconstruction_model(settings: dict[str, Any]) -> bool:
    from ganbench.models import ARCHITECTURES

    return ARCHITECTURES.get(settings["architecture"]["name"]).training_model in CODECS


@dataclass
class LoadedCodec:
    """A trained encoder and decoder from one checkpoint, on the CPU or ``device``, in eval mode."""

    codec: Codec
    encoder: nn.Module
    decoder: nn.Module
    step: int

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.codec.encode(self.encoder, x)

    @torch.no_grad()
    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(self.decoder, code)


def load_codec(run_dir: Path, shape: tuple[int, ...], settings: dict[str, Any], num_classes: int,
               device: torch.device | str = "cpu") -> LoadedCodec:
    """The encoder and decoder of a VAE or autoencoder run, from its newest checkpoint."""
    from ganbench.models import ARCHITECTURES
    from ganbench.train.checkpoint import load_file

    arch = settings["architecture"]
    cls = ARCHITECTURES.get(arch["name"])
    codec = CODECS.get(cls.training_model, key="architecture.name")
    ckpts = sorted((Path(run_dir) / "ckpt").glob("step*.pt"))
    if not ckpts:
        raise DataError(f"no checkpoint under {Path(run_dir) / 'ckpt'}: the encoder is kept only there")
    state = load_file(ckpts[-1]).get("gan") or {}
    if "encoder" not in state or "G" not in state:
        raise DataError(f"{ckpts[-1]}: no encoder and decoder in the checkpoint (not a VAE/autoencoder run?)")
    family = cls(shape, "image", int(settings["z_dim"]), num_classes, {k: v for k, v in arch.items() if k != "name"},
                 "architecture")
    encoder, decoder = family.encoder(), family.generator()
    encoder.load_state_dict(state["encoder"])
    decoder.load_state_dict(state["G"])
    return LoadedCodec(codec, encoder.to(device).eval(), decoder.to(device).eval(), int(state.get("step", 0)))


def to_model(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to floats in [-1, 1]."""
    return x.float().div(127.5).sub(1.0)


@torch.no_grad()
def reconstruction_metrics(model: LoadedCodec, images: np.ndarray, batch_size: int = 500,
                           device: torch.device | str = "cpu") -> dict[str, float]:
    """{"reconstruction_bce", "reconstruction_mse", "reconstruction_images"} over uint8 ``images`` (N×C×H×W)."""
    bce = mse = 0.0
    for start in range(0, len(images), batch_size):
        x = to_model(torch.from_numpy(images[start:start + batch_size])).to(device)
        target = (x + 1.0) / 2.0
        mean = ((model.decode(model.encode(x)).float() + 1.0) / 2.0).clamp(EPS, 1.0 - EPS)
        bce += float(F.binary_cross_entropy(mean, target, reduction="none").flatten(1).sum(1).sum())
        mse += float((mean - target).square().flatten(1).mean(1).sum())
    n = max(1, len(images))
    return {"reconstruction_bce": bce / n, "reconstruction_mse": mse / n, "reconstruction_images": len(images)}


@metric("reconstruction", kinds=("image",), needs=("heldout", "checkpoint"), when=is_reconstruction_model,
        position=70,
        scores=(
            Score("reconstruction_bce", "Reconstruction BCE (nats/image)", "lower", "{:.1f}",
                  lambda o: f"binary cross-entropy of {o['num_samples']:,} test images under their reconstructions, "
                            "summed over pixels (the training loss's reconstruction term, on the test split; VAE, "
                            "autoencoder)"),
            Score("reconstruction_mse", "Reconstruction MSE", "lower", "{:.4f}",
                  "mean squared error per pixel of [0, 1] intensities between test images and their reconstructions "
                  "(VAE: decoded posterior mean; autoencoder)"),
        ),
        records=("reconstruction_images",))
def reconstruction(ctx: Any) -> dict[str, Any]:
    """Reconstruction error of ``num_samples`` test images (validation images in a search's phase 1; the encoder
    from the newest checkpoint)."""
    model = load_codec(ctx.run_dir, ctx.data.shape, ctx.settings, ctx.data.num_classes, ctx.device)
    heldout = ctx.data.heldout(ctx.options["real_split"])[0]
    return reconstruction_metrics(model, heldout[:ctx.n], int(ctx.options["batch_size"]), ctx.device)
