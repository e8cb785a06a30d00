"""Training tricks as composable hooks.

A trick is one config key under ``tricks:`` (``tricks: {label_smoothing: {real_target: 0.9}}``) and one small
class. The training step calls every active trick at fixed points, in config order, so any subset combines with any
loss and architecture without a branch in the loop:

- ``validate(settings, key)``   reject incompatible combinations before any job starts (ConfigError);
- ``on_models(gan)``           change G/D before the optimizers exist (spectral norm, dropout, packing ...);
- ``on_loss(loss)``            adjust the loss (one-sided label smoothing moves the real target);
- ``d_inputs(real, fake, gan)``  change what D sees (instance noise, experience replay ...);
- ``after_d_step(gan)``        after each optimizer step of D (weight clipping);
- ``after_g_step(gan)``        after each optimizer step of G (EMA of G's weights);
- ``state_dict``/``load_state_dict``  anything a resumed run needs (replay buffers ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ganbench.options import resolve_options
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.train.gan import GAN

TRICKS: Registry[type["Trick"]] = Registry("trick")


class Trick:
    defaults: ClassVar[dict[str, Any]] = {}
    citation: ClassVar[str] = ""

    def __init__(self, options: dict | None, key: str):
        self.key = key
        self.options = resolve_options(self.defaults, options, key)

    @classmethod
    def validate(cls, settings: dict[str, Any], key: str) -> None:
        """Raise ConfigError when this trick cannot be combined with the rest of ``settings``."""

    def on_models(self, gan: "GAN") -> None: ...

    def on_loss(self, loss) -> None: ...

    def d_inputs(self, real: torch.Tensor, fake: torch.Tensor, gan: "GAN") -> tuple[torch.Tensor, torch.Tensor]:
        return real, fake

    def after_d_step(self, gan: "GAN") -> None: ...

    def after_g_step(self, gan: "GAN") -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def build_tricks(config: dict[str, Any] | None, key: str = "tricks") -> list[Trick]:
    """Instantiate the tricks named in ``config`` (name → options, or name → true for the defaults)."""
    tricks = []
    for name, options in (config or {}).items():
        if options is False or options is None:
            continue
        cls = TRICKS.get(name, key=f"{key}.{name}")
        tricks.append(cls({} if options is True else options, f"{key}.{name}"))
    return tricks
