"""Training tricks as composable hooks.

A trick is one config key under ``tricks:`` (``tricks: {label_smoothing: {real_target: 0.9}}``) and one small
class. The GAN calls every active trick at fixed points, so any subset combines with any loss and architecture
without a branch in the loop. All hooks default to "do nothing":

construction (``GAN.__init__``)
- ``validate(settings, key)``        reject incompatible combinations before any job starts (ConfigError);
- ``on_generator(G, gan) -> G``       reshape G as it is built (spectral norm on G);
- ``on_discriminator(D, gan) -> D``   reshape *every* discriminator as it is built (dropout, packing, minibatch
                                      layers, spectral norm): replayed for each extra D that ``multi_d`` adds;
- ``on_models(gan)``                 whole-GAN changes once G and D exist (more discriminators, an EMA copy of G);
- ``on_loss(loss)``                  adjust the loss (one-sided label smoothing moves the real target);
- ``on_optimizers(gan)``             once the optimizers exist (learning-rate schedules);

one discriminator step (``GAN.d_step``, then ``GAN.update_d`` for each discriminator)
- ``d_inputs(real, fake, gan)``      change what D sees (instance noise, experience replay);
- ``d_penalty(D, real, fake, gan)``  an extra regulariser added to D's loss, or None (gradient penalty);
- ``before_d_step(D, gan)``          gradients are ready, the optimizer has not stepped (gradient clipping);
- ``after_d_step(D, gan)``           after D's optimizer step (weight clipping);

one generator step (``GAN.g_step``)
- ``g_critic(D, gan) -> D'``         the network G's loss evaluates in place of D (unrolled: an advanced copy);
- ``before_g_step(gan)``             gradients are ready, the optimizer has not stepped (gradient clipping);
- ``after_g_step(gan)``              after G's optimizer step (EMA of G's weights, learning-rate schedules);

checkpoints
- ``state_dict``/``load_state_dict`` anything a resumed run needs (replay buffers, EMA weights, schedulers). Only
                                      tensors, numbers, strings, None, lists and dicts: checkpoints load with
                                      ``torch.load(weights_only=True)``.

The per-discriminator hooks take the discriminator they act on, so they apply equally to every D of ``multi_d``
and to the throw-away copy that ``unrolled`` advances.

Tricks run in ascending ``order`` and, among equals, in config order. Tricks that restructure a network use
``ORDER_STRUCTURE`` so that reparametrisations (spectral norm, ``ORDER_DEFAULT``) see the final layers; experience
replay uses ``ORDER_SOURCE`` so that instance noise also perturbs the replayed fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ganbench.options import resolve_options
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.losses import GANLoss
    from ganbench.train.gan import GAN

TRICKS: Registry[type["Trick"]] = Registry("trick")

ORDER_STRUCTURE = -10  # tricks that add or replace layers
ORDER_SOURCE = -10  # tricks that choose what D sees, before those that perturb it
ORDER_DEFAULT = 0


class Trick:
    defaults: ClassVar[dict[str, Any]] = {}
    citation: ClassVar[str] = ""
    order: ClassVar[int] = ORDER_DEFAULT

    def __init__(self, options: dict | None, key: str):
        self.key = key
        self.options = resolve_options(self.defaults, options, key)

    @classmethod
    def validate(cls, settings: dict[str, Any], key: str) -> None:
        """Raise ConfigError when this trick cannot be combined with the rest of ``settings``."""

    @classmethod
    def configured(cls, settings: dict[str, Any], key: str) -> dict[str, Any]:
        """This trick's options as set in ``settings`` (for ``validate``); ``key`` ends in the trick's name."""
        given = (settings.get("tricks") or {}).get(key.rpartition(".")[2])
        return resolve_options(cls.defaults, given if isinstance(given, dict) else {}, key)

    # ------------------------------------------------------------------ construction
    def on_generator(self, G: nn.Module, gan: "GAN") -> nn.Module:
        return G

    def on_discriminator(self, D: nn.Module, gan: "GAN") -> nn.Module:
        return D

    def on_models(self, gan: "GAN") -> None: ...

    def on_loss(self, loss: "GANLoss") -> None: ...

    def on_optimizers(self, gan: "GAN") -> None: ...

    # ------------------------------------------------------------------ discriminator step
    def d_inputs(self, real: torch.Tensor, fake: torch.Tensor, gan: "GAN") -> tuple[torch.Tensor, torch.Tensor]:
        return real, fake

    def d_penalty(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, gan: "GAN") -> torch.Tensor | None:
        return None

    def before_d_step(self, D: nn.Module, gan: "GAN") -> None: ...

    def after_d_step(self, D: nn.Module, gan: "GAN") -> None: ...

    # ------------------------------------------------------------------ generator step
    def g_critic(self, D: nn.Module, gan: "GAN") -> nn.Module:
        return D

    def before_g_step(self, gan: "GAN") -> None: ...

    def after_g_step(self, gan: "GAN") -> None: ...

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def require_loss(settings: dict[str, Any], key: str, attribute: str, need: str) -> None:
    """ConfigError at ``key`` unless the variant's loss class has the true class attribute ``attribute``
    (e.g. ``wasserstein``); ``need`` says what the trick needs, for the message."""
    from ganbench.errors import ConfigError
    from ganbench.losses import LOSSES

    loss = settings["loss"]["name"]
    if not getattr(LOSSES.get(loss), attribute):
        raise ConfigError(f"{key}: {need}, not {loss!r}")


def build_tricks(config: dict[str, Any] | None, key: str = "tricks") -> list[Trick]:
    """Instantiate the tricks named in ``config`` (name → options, or name → true for the defaults), sorted by
    ``order`` (stable, so config order decides among equals)."""
    tricks = []
    for name, options in (config or {}).items():
        if options is False or options is None:
            continue
        cls = TRICKS.get(name, key=f"{key}.{name}")
        tricks.append(cls({} if options is True else options, f"{key}.{name}"))
    return sorted(tricks, key=lambda t: t.order)
