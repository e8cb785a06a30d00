"""Network surgery for tricks that restructure a discriminator: find a layer by role, replace it in place.

The discriminators of every architecture end in a scalar head, ``Linear(features, 1)`` (then a ``Flatten(0)``),
and start with a ``Conv2d`` or ``Linear`` layer that reads the input. Tricks locate these by role rather than by
index, so they work on any nesting (an earlier trick may have wrapped the network or a layer) and on any family
that keeps this shape. Layers are located among the modules in registration order.

Run surgery before spectral normalisation (``ORDER_STRUCTURE``): a reparametrised layer is refused, since
replacing it would silently drop the reparametrisation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)


def replace(net: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule called ``name`` (as in ``named_modules``) is."""
    parent_name, _, child = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, new)


def _plain(name: str, layer: nn.Module) -> nn.Module:
    if parametrize.is_parametrized(layer):
        raise RuntimeError(f"layer {name!r} is reparametrised (spectral norm?); restructure the network first")
    return layer


def first_layer(net: nn.Module) -> tuple[str, nn.Conv2d | nn.Linear]:
    """The first convolution or linear layer: the one that reads the input."""
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return name, _plain(name, module)
    raise ValueError("the network has no Conv2d or Linear layer")


def head(net: nn.Module) -> tuple[str, nn.Linear]:
    """The last linear layer, which must map features to the single logit."""
    found = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not found or found[-1][1].out_features != 1:
        raise ValueError("the discriminator does not end in a Linear(features, 1) head")
    return found[-1][0], _plain(*found[-1])


def insert_before_head(net: nn.Module, layer: nn.Module, extra_features: int) -> None:
    """Feed the head's input through ``layer``, which appends ``extra_features`` columns to it, and widen the head.

    The widened head keeps the old head's weights for the old features; the weights of the new features get
    PyTorch's default Linear initialisation.
    """
    name, old = head(net)
    new = nn.Linear(old.in_features + extra_features, 1, bias=old.bias is not None)
    with torch.no_grad():
        new.weight[:, : old.in_features] = old.weight
        if old.bias is not None:
            new.bias.copy_(old.bias)
    replace(net, name, nn.Sequential(layer, new))


def activations(net: nn.Module) -> list[str]:
    """Names of the nonlinearities (ReLU family) of the network."""
    return [name for name, m in net.named_modules() if isinstance(m, ACTIVATIONS)]
