"""Optimizers by name. ``lr_g`` and ``lr_d`` are separate, so TTUR (Heusel et al. 2017) is just two numbers."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from ganbench.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")


def _fast_kwargs(params: list[torch.nn.Parameter], fused_ok: bool = True) -> dict[str, Any]:
    """The fastest exact implementation: fused kernels (one for the whole update) where torch has them for these
    parameters, else foreach (one launch per op over all parameters). Both compute the same update as the loop."""
    if not params:
        return {}
    if fused_ok and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params):
        return {"fused": True}
    return {"foreach": True}


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.Adam(params, lr=lr, betas=tuple(settings["betas"]), **_fast_kwargs(params))


@OPTIMIZERS.register("rmsprop")
def rmsprop(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.RMSprop(params, lr=lr, momentum=settings.get("momentum", 0.0),
                               **_fast_kwargs(params, fused_ok=False))  # no fused RMSprop in torch


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    params = list(params)
    return torch.optim.SGD(params, lr=lr, momentum=settings.get("momentum", 0.0), **_fast_kwargs(params))


def make_optimizer(params: Iterable, lr: float, settings: dict[str, Any]) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(settings["name"], key="optimizer.name")(params, lr, settings)
