"""Training tricks as composable hooks.

A trick is one config key under ``tricks:`` (``tricks: {label_smoothing: {real_target: 0.9}}``) and one small
class. Its options are ``defaults`` (each option with its default value) and ``ranges`` (the values each numeric or
enumerated option may take, ``ganbench.options.Range``/``Choice``). The config check resolves both for every trick
(``configured``), then runs its ``validate`` (combinations with the rest of the variant), before any job starts;
the GAN resolves the same declarations when it builds the trick.
The GAN calls every active trick at fixed points, so any subset combines with any loss and architecture without a
branch in the loop. All hooks default to "do nothing".

Every hook gets ``ctx``, the GAN's ``TrickContext`` (``ganbench.train.context``), never the GAN itself: it reads the
generator step, device, conditioning, G, batch size and run length, and offers the only changes a trick may make
(add a discriminator, set the network to sample from, set the samples per batch, set the loss's real target), the
optimizers to schedule, and the pieces of D's update a look-ahead needs (fresh batches, ``update_d``,
``d_objective``, D's optimizer).

construction (``GAN.__init__``)
- ``validate(settings, key)``         reject incompatible combinations before any job starts (ConfigError);
- ``on_generator(G, ctx) -> G``       reshape G as it is built (spectral norm on G);
- ``on_discriminator(D, ctx) -> D``   reshape *every* discriminator as it is built (dropout, packing, minibatch
                                      layers, spectral norm): replayed for each extra D that ``multi_d`` adds;
- ``on_models(ctx)``                  whole-GAN changes once G and D exist (more discriminators, an EMA copy of
                                      G, packs, the real target of one-sided label smoothing);
- ``on_optimizers(ctx)``              once the optimizers exist (learning-rate schedules);

what every critic sees (``GAN.perceived``)
- ``critic_inputs(x, ctx) -> x``      perturb a batch on its way into a discriminator (instance noise). Applied to
                                      every D input: both batches of each D step (after ``d_inputs``), the fake
                                      batch of G's step, and the batches of the unrolled D updates. Keep it free of
                                      state: it runs more than once per step;

one discriminator step (``GAN.d_step``, then ``GAN.update_d`` for each discriminator)
- ``d_inputs(real, fake, ctx)``       choose what D is trained on (experience replay); D's step only;
- ``d_penalty(critic, ctx)``          an extra regulariser added to D's loss, or None (gradient penalty, R1);
                                      ``critic`` is the step's ``CriticPass`` (``ganbench.losses.base``): D, the
                                      batches as D read them and the logits D computed on them, so a penalty on the
                                      real logits needs no forward pass of its own (declare
                                      ``needs_real_input_grad`` to get ∇ₓD(x) from them);
- ``before_d_step(D, ctx)``           gradients are ready, the optimizer has not stepped (gradient clipping);
- ``after_d_step(D, ctx)``            after D's optimizer step (weight clipping);

one generator step (``GAN.g_step``)
- ``g_critic(D, ctx) -> D'``          the network G's loss evaluates in place of D (unrolled: an advanced copy);
- ``before_g_step(ctx)``              gradients are ready, the optimizer has not stepped (gradient clipping);
- ``after_g_step(ctx)``               after G's optimizer step (EMA of G's weights, learning-rate schedules);

statistics
- ``stats(ctx) -> {name: 0-d tensor}`` the trick's own per-step statistics (experience replay: the mean age of the
                                      replayed fakes), logged as columns of ``log.csv``. Every name must be listed
                                      in the class's ``stat_names``, which ``ganbench.train.gan.STAT_NAMES`` collects
                                      from all registered tricks; a run without the trick logs 0 there. Return
                                      tensors, never Python numbers: the step must not wait for the device;

checkpoints
- ``state_dict``/``load_state_dict`` anything a resumed run needs (replay buffers, EMA weights, schedulers). Only
                                      tensors, numbers, strings, None, lists and dicts: checkpoints load with
                                      ``torch.load(weights_only=True)``.

The per-discriminator hooks take the discriminator they act on, so they apply equally to every D of ``multi_d``
and to the throw-away copy that first-order ``unrolled`` advances. Second-order unrolling differentiates through
functional D updates: ``d_penalty`` acts there too, while ``before_d_step``/``after_d_step`` (which change a
network in place) cannot, so the config check refuses such tricks with it.

Tricks run in ascending ``order`` and, among equals, in config order. Tricks that restructure a network use
``ORDER_STRUCTURE`` so that reparametrisations (spectral norm, ``ORDER_DEFAULT``) see the final layers. Perturbations
(``critic_inputs``) always come after the choice of inputs (``d_inputs``), so instance noise also perturbs the fakes
that experience replay brings back.

Class attributes describe a trick to the config check of other components, which never test a trick's name:
``lipschitz`` names the constraint a trick puts on the critic (weight clipping, a gradient penalty, spectral
normalisation), which the Wasserstein loss requires; ``gradient_penalty`` marks a per-sample gradient penalty on D;
``needs_real_input_grad`` asks for the real batch to require grad in D's forward pass. A trick reads the other
components' declarations the same way (``require_loss``: a class attribute of the variant's loss).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ganbench.options import Constraint, resolve_options
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.losses import CriticPass
    from ganbench.train.context import TrickContext

TRICKS: Registry[type["Trick"]] = Registry("trick")

ORDER_STRUCTURE = -10  # tricks that add or replace layers
ORDER_DEFAULT = 0


class Trick:
    defaults: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[dict[str, Constraint]] = {}
    citation: ClassVar[str] = ""
    order: ClassVar[int] = ORDER_DEFAULT
    stat_names: ClassVar[tuple[str, ...]] = ()
    lipschitz: ClassVar[str | None] = None  # the Lipschitz constraint this trick puts on D, if any
    gradient_penalty: ClassVar[bool] = False
    needs_real_input_grad: ClassVar[bool] = False

    def __init__(self, options: dict | None, key: str):
        self.key = key
        self.options = resolve_options(self.defaults, options, key, self.ranges)

    @classmethod
    def validate(cls, settings: dict[str, Any], key: str) -> None:
        """Raise ConfigError when this trick cannot be combined with the rest of ``settings``."""

    @classmethod
    def configured(cls, settings: dict[str, Any], key: str) -> dict[str, Any]:
        """This trick's options as set in ``settings`` (for ``validate``); ``key`` ends in the trick's name."""
        given = (settings.get("tricks") or {}).get(key.rpartition(".")[2])
        return resolve_options(cls.defaults, given if isinstance(given, dict) else {}, key, cls.ranges)

    # ------------------------------------------------------------------ construction
    def on_generator(self, G: nn.Module, ctx: "TrickContext") -> nn.Module:
        return G

    def on_discriminator(self, D: nn.Module, ctx: "TrickContext") -> nn.Module:
        return D

    def on_models(self, ctx: "TrickContext") -> None: ...

    def on_optimizers(self, ctx: "TrickContext") -> None: ...

    # ------------------------------------------------------------------ what every critic sees
    def critic_inputs(self, x: torch.Tensor, ctx: "TrickContext") -> torch.Tensor:
        return x

    # ------------------------------------------------------------------ discriminator step
    def d_inputs(self, real: torch.Tensor, fake: torch.Tensor, ctx: "TrickContext"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        return real, fake

    def d_penalty(self, critic: "CriticPass", ctx: "TrickContext") -> torch.Tensor | None:
        return None

    def before_d_step(self, D: nn.Module, ctx: "TrickContext") -> None: ...

    def after_d_step(self, D: nn.Module, ctx: "TrickContext") -> None: ...

    # ------------------------------------------------------------------ generator step
    def g_critic(self, D: nn.Module, ctx: "TrickContext") -> nn.Module:
        return D

    def before_g_step(self, ctx: "TrickContext") -> None: ...

    def after_g_step(self, ctx: "TrickContext") -> None: ...

    # ------------------------------------------------------------------ statistics
    def stats(self, ctx: "TrickContext") -> dict[str, torch.Tensor]:
        return {}

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
