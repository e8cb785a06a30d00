"""The loss interface. A loss maps discriminator logits to the D and G objectives (both minimised).

Both objectives see real and fake logits: ``d_loss(real_logits, fake_logits)`` in D's step and
``g_loss(real_logits, fake_logits)`` in G's. The real logits of G's step cost a D forward pass on the real batch, so
G's step computes them only for a loss that declares ``needs_real_logits_in_g_step`` (the relativistic losses,
which compare each fake with the average real); every other loss gets None there.

``penalty(critic)`` adds a regulariser that needs D itself (WGAN-GP's gradient penalty). It gets the
``CriticPass`` of D's step: D, the batches as D read them, the logits D computed on them and the GAN's
conditioning, so a regulariser on the real batch (R1) differentiates the real logits already computed instead of
running D again, and a penalty on interpolates pairs samples of one class and differentiates by the data, not the
labels. ``needs_real_input_grad`` declares that the real batch must require grad in D's forward pass (R1's
∇ₓD(x)); the GAN then sets it.

``real_target`` is where one-sided label smoothing acts (losses with a probabilistic target accept it, declared by
``uses_real_target``). ``wasserstein`` marks critics whose E[D(x)] − E[D(G(z))] estimates a Wasserstein distance,
so weight clipping and the critic-estimate curve apply to them; ``lipschitz`` names the constraint the loss itself
puts on D (WGAN-GP's gradient penalty), ``gradient_penalty`` marks a per-sample gradient penalty. Options are
``defaults`` with their valid ``ranges`` (``ganbench.options``); ``validate`` refuses combinations the loss's paper
rules out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ganbench.options import Constraint, resolve_options
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.train.conditioning import Conditioning

LOSSES: Registry[type["GANLoss"]] = Registry("loss")


@dataclass(frozen=True)
class CriticPass:
    """One discriminator's forward pass in D's step: D, the real and fake batches as D read them (after every
    trick's ``d_inputs`` and ``critic_inputs``), its logits on them, and the GAN's conditioning. The real batch
    requires grad when the loss or a trick declares ``needs_real_input_grad``."""

    D: nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    conditioning: "Conditioning | None" = None


class GANLoss(ABC):
    defaults: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[dict[str, Constraint]] = {}
    wasserstein: ClassVar[bool] = False
    uses_real_target: ClassVar[bool] = False
    lipschitz: ClassVar[str | None] = None
    gradient_penalty: ClassVar[bool] = False
    needs_real_logits_in_g_step: ClassVar[bool] = False
    needs_real_input_grad: ClassVar[bool] = False
    citation: ClassVar[str] = ""
    # (D's loss, G's loss) where D cannot tell real from fake (D = ½ for the probabilistic losses), drawn as reference
    # lines in the report's loss plot; None where the loss has no such value (a Wasserstein critic's is arbitrary)
    equilibrium: ClassVar[tuple[float | None, float | None]] = (None, None)

    def __init__(self, options: dict | None = None, key: str = "loss_options"):
        self.options = resolve_options(self.defaults, options, key, self.ranges)
        self.real_target = 1.0

    @classmethod
    def validate(cls, settings: dict[str, Any], key: str) -> None:
        """Raise ConfigError (at ``key``, the variant's ``loss``) when the rest of ``settings`` does not fit."""
        return None  # fits anything unless a loss says otherwise

    @abstractmethod
    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def g_loss(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        """G's objective; ``real_logits`` is None unless the class declares ``needs_real_logits_in_g_step``."""

    def penalty(self, critic: CriticPass) -> torch.Tensor | None:
        return None


class SymmetricRelativisticLoss(GANLoss):
    """A relativistic loss whose G objective is D's with real and fake exchanged (RaSGAN, RaLSGAN): G makes the
    fakes look more realistic than the average real and the reals less realistic than the average fake, so it
    needs D's logits on the real batch in its step."""

    needs_real_logits_in_g_step = True

    def g_loss(self, real_logits, fake_logits):
        return self.d_loss(fake_logits, real_logits)
