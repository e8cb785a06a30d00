"""What the Trainer trains, by name: the GAN, or a non-adversarial baseline.

An architecture names its training model in ``Architecture.training_model`` ("gan" unless it says otherwise);
``build_model`` looks that name up in ``TRAINING_MODELS``. Every entry implements ``TrainingModel``, the part of
``ganbench.train.gan.GAN`` that the Trainer, ``ganbench.train.run`` and the checkpoints use.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
from torch import nn

from ganbench.models import ARCHITECTURES
from ganbench.registry import Registry
from ganbench.train.conditioning import Conditioning
from ganbench.train.autoencoders import AutoencoderModel, VAEModel
from ganbench.train.gan import GAN


class TrainingModel(Protocol):
    """The interface of a trainable model: one ``train_step`` per step, returning a 0-d tensor for every name in
    ``ganbench.train.gan.STAT_NAMES``; ``sampler()`` is the network whose weights become ``generator.pt`` (the one
    the architecture's ``generator()`` builds); ``state_dict`` holds tensors, numbers, strings, lists and dicts
    only (checkpoints load with ``weights_only=True``)."""

    G: nn.Module
    step: int
    batch_size: int
    d_steps: int
    z_dim: int
    device: torch.device
    tricks: list[Any]
    conditioning: Conditioning  # how class labels enter the inputs (Unconditional for every non-GAN model)

    @property
    def Ds(self) -> list[nn.Module]: ...

    def real_batch(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor: ...

    @property
    def D(self) -> nn.Module: ...

    def train_step(self, next_real: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def sampler(self) -> nn.Module: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


TRAINING_MODELS: Registry[Callable[..., TrainingModel]] = Registry("training model")
TRAINING_MODELS.register("gan")(GAN)
TRAINING_MODELS.register("vae")(VAEModel)
TRAINING_MODELS.register("autoencoder")(AutoencoderModel)


def build_model(settings: dict[str, Any], shape: tuple[int, ...], kind: str, num_classes: int,
                device: torch.device) -> TrainingModel:
    """The training model that ``settings["architecture"]`` asks for, built for data of this shape and kind."""
    family = ARCHITECTURES.get(settings["architecture"]["name"], key="architecture.name")
    cls = TRAINING_MODELS.get(family.training_model, key="architecture.training_model")
    return cls(settings, shape, kind, num_classes, device)
