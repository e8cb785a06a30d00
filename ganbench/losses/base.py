"""The loss interface. A loss maps discriminator logits to the D and G objectives (both minimised).

``real_target`` is where one-sided label smoothing acts (losses with a probabilistic target accept it);
``penalty`` adds a regulariser that needs D itself (WGAN-GP's gradient penalty). ``wasserstein`` marks critics
whose E[D(x)] − E[D(G(z))] estimates a Wasserstein distance, so weight clipping and the critic-estimate curve
apply to them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from ganbench.options import resolve_options
from ganbench.registry import Registry

LOSSES: Registry[type["GANLoss"]] = Registry("loss")


class GANLoss(ABC):
    defaults: ClassVar[dict[str, Any]] = {}
    wasserstein: ClassVar[bool] = False
    uses_real_target: ClassVar[bool] = False
    citation: ClassVar[str] = ""
    # (D's loss, G's loss) where D cannot tell real from fake (D = ½ for the probabilistic losses), drawn as reference
    # lines in the report's loss plot; None where the loss has no such value (a Wasserstein critic's is arbitrary)
    equilibrium: ClassVar[tuple[float | None, float | None]] = (None, None)

    def __init__(self, options: dict | None = None, key: str = "loss_options"):
        self.options = resolve_options(self.defaults, options, key)
        self.real_target = 1.0

    @abstractmethod
    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor: ...

    def penalty(self, discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        return None
