"""The loss interface. A loss maps discriminator logits to the D and G objectives (both minimised).

``real_target`` is where one-sided label smoothing acts (losses with a probabilistic target accept it);
``penalty`` adds a regulariser that needs D itself (WGAN-GP's gradient penalty); it gets the GAN's conditioning,
so that a penalty on interpolates pairs samples of one class and differentiates by the data, not the labels.
``wasserstein`` marks critics whose E[D(x)] − E[D(G(z))] estimates a Wasserstein distance, so weight clipping and
the critic-estimate curve apply to them; ``lipschitz`` names the constraint the loss itself puts on D (WGAN-GP's
gradient penalty), ``gradient_penalty`` marks a per-sample gradient penalty. Options are ``defaults`` with their
valid ``ranges`` (``ganbench.options``); ``validate`` refuses combinations the loss's paper rules out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ganbench.options import Constraint, resolve_options
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.train.conditioning import Conditioning

LOSSES: Registry[type["GANLoss"]] = Registry("loss")


class GANLoss(ABC):
    defaults: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[dict[str, Constraint]] = {}
    wasserstein: ClassVar[bool] = False
    uses_real_target: ClassVar[bool] = False
    lipschitz: ClassVar[str | None] = None
    gradient_penalty: ClassVar[bool] = False
    citation: ClassVar[str] = ""

    def __init__(self, options: dict | None = None, key: str = "loss_options"):
        self.options = resolve_options(self.defaults, options, key, self.ranges)
        self.real_target = 1.0

    @classmethod
    def validate(cls, settings: dict[str, Any], key: str) -> None:
        """Raise ConfigError (at ``key``, the variant's ``loss``) when the rest of ``settings`` does not fit."""

    @abstractmethod
    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor: ...

    def penalty(self, discriminator, real: torch.Tensor, fake: torch.Tensor,
                conditioning: "Conditioning | None" = None) -> torch.Tensor | None:
        return None
