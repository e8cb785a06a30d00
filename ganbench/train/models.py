"""What the Trainer trains, by name: the GAN, or a non-adversarial baseline.

An architecture names its training model in ``ModelFamily.training_model`` ("gan" unless it says otherwise);
``build_model`` looks that name up in ``TRAINING_MODELS``. Every entry implements ``TrainingModel``, all that the
Trainer, ``ganbench.train.run`` and the checkpoints use of a model; the GAN has more (its discriminators, tricks
and losses), the baselines do not pretend to.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Protocol

import torch
from torch import nn

from ganbench.models import ARCHITECTURES
from ganbench.registry import Registry
from ganbench.train.autoencoders import AutoencoderModel, VAEModel
from ganbench.train.conditioning import Conditioning
from ganbench.train.gan import GAN


class TrainingModel(Protocol):
    """The interface of a trainable model.

    - ``train_step(next_real)``: one training step on batches drawn with ``next_real()``, returning a 0-d tensor for
      every name in ``ganbench.train.gan.STAT_NAMES`` (the log's columns), without waiting for the device;
    - ``step``: steps done; ``batch_size``: samples per ``next_real()`` batch; ``batches_per_step``: the real
      batches one step reads (images/s counts step × batch_size × batches_per_step);
    - ``networks()``: every network under training by name (the divergence check looks at all of them, and
      ``runtime.compile`` compiles them);
    - ``sampler()``: the network whose weights become ``generator.pt`` (the one the architecture's ``generator()``
      builds), with no side effect on the model, its training or the random streams; ``raw_generator()``: a network
      to keep beside it as ``generator_raw.pt`` (G itself when samples come from its EMA), else None;
    - ``conditioning`` and ``real_batch``: how class labels enter G's input and the real batches (``Unconditional``
      and the batch itself for every non-GAN model);
    - ``state_dict``/``load_state_dict``: tensors, numbers, strings, lists and dicts only (checkpoints load with
      ``weights_only=True``);
    - ``adversarial``: whether losses, tricks and class conditioning apply (the config check asks).
    """

    adversarial: ClassVar[bool]
    step: int
    batch_size: int
    z_dim: int
    device: torch.device
    conditioning: Conditioning

    @property
    def batches_per_step(self) -> int: ...

    def networks(self) -> dict[str, nn.Module]: ...

    def real_batch(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor: ...

    def train_step(self, next_real: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def sampler(self) -> nn.Module: ...

    def raw_generator(self) -> nn.Module | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


TRAINING_MODELS: Registry[type[TrainingModel]] = Registry("training model")
TRAINING_MODELS.register("gan")(GAN)
TRAINING_MODELS.register("vae")(VAEModel)
TRAINING_MODELS.register("autoencoder")(AutoencoderModel)


def build_model(settings: dict[str, Any], shape: tuple[int, ...], kind: str, num_classes: int,
                device: torch.device) -> TrainingModel:
    """The training model that ``settings["architecture"]`` asks for, built for data of this shape and kind."""
    family = ARCHITECTURES.get(settings["architecture"]["name"], key="architecture.name")
    cls = TRAINING_MODELS.get(family.training_model, key="architecture.training_model")
    return cls(settings, shape, kind, num_classes, device)
