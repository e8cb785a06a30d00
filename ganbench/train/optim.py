"""Optimizers by name, per network.

``optimizer: {name, lr_g, lr_d, betas, momentum, weight_decay}`` holds the settings G and D share; ``optimizer.g``
and ``optimizer.d`` override any of ``name``, ``betas``, ``momentum`` and ``weight_decay`` for one network, so G and
D can use different optimizers (``d: {name: sgd, momentum: 0.9}``) and D alone can be penalised by weight decay
(``d: {weight_decay: 1.0e-4}``: an L2 penalty on D's weights, added to the gradient as torch's optimizers do).
The learning rates stay ``lr_g`` and ``lr_d`` (TTUR, Heusel et al. 2017, is just two numbers). The optimizer
names are checked against ``OPTIMIZERS`` by the config check (``check_optimizers``), not by the schema, so a newly
registered optimizer is accepted everywhere at once.

``FUNCTIONAL_UPDATES`` holds, for every optimizer, the same update written as a differentiable function of the
parameters, gradients and optimizer state, for algorithms that differentiate through optimizer steps (the
second-order unrolled GAN). Each equals its torch optimizer's step (a test compares them).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from ganbench.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
NETWORKS = ("g", "d")


def network_settings(settings: dict[str, Any], net: str) -> dict[str, Any]:
    """The optimizer settings of network ``net`` ("g" or "d"): the shared settings with ``settings[net]`` (if any)
    merged over them."""
    shared = {k: v for k, v in settings.items() if k not in NETWORKS}
    return {**shared, **(settings.get(net) or {})}


def check_optimizers(settings: dict[str, Any], key: str = "optimizer") -> None:
    """ConfigError unless every optimizer named in ``settings`` (shared, ``g``, ``d``) is registered; the message
    names the key (``key.g.name``) and the registered names."""
    OPTIMIZERS.get(settings["name"], key=f"{key}.name")
    for net in NETWORKS:
        if "name" in (settings.get(net) or {}):
            OPTIMIZERS.get(settings[net]["name"], key=f"{key}.{net}.name")


def _fast_kwargs(params: list[torch.nn.Parameter], fused_ok: bool = True) -> dict[str, Any]:
    """The fastest exact implementation: fused kernels (one for the whole update) where torch has them for these
    parameters, else foreach (one launch per op over all parameters). Both compute the same update as the loop."""
    if not params:
        return {}
    if fused_ok and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params):
        return {"fused": True}
    return {"foreach": True}


def _weight_decay(settings: dict[str, Any]) -> float:
    return float(settings.get("weight_decay", 0.0))


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.Adam(params, lr=lr, betas=tuple(settings["betas"]), weight_decay=_weight_decay(settings),
                            **_fast_kwargs(params))


@OPTIMIZERS.register("rmsprop")
def rmsprop(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.RMSprop(params, lr=lr, momentum=settings.get("momentum", 0.0),
                               weight_decay=_weight_decay(settings),
                               **_fast_kwargs(params, fused_ok=False))  # no fused RMSprop in torch


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.SGD(params, lr=lr, momentum=settings.get("momentum", 0.0),
                           weight_decay=_weight_decay(settings), **_fast_kwargs(params))


def make_optimizer(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """An optimizer for ``params`` from one network's settings (see ``network_settings``)."""
    return OPTIMIZERS.get(settings["name"], key="optimizer.name")(params, lr, settings)


# ---------------------------------------------------------------------------------------- differentiable steps
Update = Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], float, dict[str, Any]],
                  tuple[torch.Tensor, dict[str, torch.Tensor]]]
FUNCTIONAL_UPDATES: Registry[Update] = Registry("differentiable optimizer step")
EPS = 1e-8  # torch's default eps of Adam and RMSprop


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """√x with a finite derivative at 0 (where an unused parameter's second moment stays): √max(x, 1e-30)."""
    return x.clamp_min(1e-30).sqrt()


def _decayed(p: torch.Tensor, g: torch.Tensor, settings: dict[str, Any]) -> torch.Tensor:
    wd = _weight_decay(settings)
    return g + wd * p if wd else g


@FUNCTIONAL_UPDATES.register("adam")
def adam_update(p, g, state, lr, settings):
    beta1, beta2 = settings["betas"]
    g = _decayed(p, g, settings)
    step = state.get("step", torch.zeros((), device=p.device)) + 1
    m = state.get("exp_avg", torch.zeros_like(p)) * beta1 + (1 - beta1) * g
    v = state.get("exp_avg_sq", torch.zeros_like(p)) * beta2 + (1 - beta2) * g * g
    denom = _sqrt(v) / _sqrt(1 - beta2 ** step) + EPS
    return p - lr / (1 - beta1 ** step) * m / denom, {"step": step, "exp_avg": m, "exp_avg_sq": v}


@FUNCTIONAL_UPDATES.register("rmsprop")
def rmsprop_update(p, g, state, lr, settings, alpha: float = 0.99):
    g = _decayed(p, g, settings)
    square_avg = state.get("square_avg", torch.zeros_like(p)) * alpha + (1 - alpha) * g * g
    scaled = g / (_sqrt(square_avg) + EPS)
    new = {"step": state.get("step", torch.zeros((), device=p.device)) + 1, "square_avg": square_avg}
    momentum = float(settings.get("momentum", 0.0))
    if momentum:
        scaled = state.get("momentum_buffer", torch.zeros_like(p)) * momentum + scaled
        new["momentum_buffer"] = scaled
    return p - lr * scaled, new


@FUNCTIONAL_UPDATES.register("sgd")
def sgd_update(p, g, state, lr, settings):
    g = _decayed(p, g, settings)
    momentum = float(settings.get("momentum", 0.0))
    if not momentum:
        return p - lr * g, {}
    buffer = state.get("momentum_buffer")
    buffer = g if buffer is None else buffer * momentum + g
    return p - lr * buffer, {"momentum_buffer": buffer}


def optimizer_state(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, torch.Tensor]:
    """A detached copy of ``opt``'s state for parameter ``p`` (empty before its first step)."""
    return {k: v.detach().clone() for k, v in opt.state.get(p, {}).items() if isinstance(v, torch.Tensor)}
