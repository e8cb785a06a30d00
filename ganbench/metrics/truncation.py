"""The truncation ψ that evaluation samples a generator with (``evaluation.truncation_psi``; Karras et al. 2019).

Style-based generators (``stylegan``) pull every w towards the running mean ``w_avg``: w' = w_avg + ψ (w − w_avg).
``evaluation.truncation_psi`` null uses the run's own architecture option ``truncation`` (1.0 by default: no
truncation); a number overrides it for every metric of the run (FID and the rest, FID over training, mixed FID,
PPL). The ψ used is recorded in each run's metrics as ``truncation_psi`` (null for generators without truncation).
"""

from __future__ import annotations

from typing import Any

import torch


def truncation_psi(settings: dict[str, Any], options: dict[str, Any]) -> float | None:
    """The ψ evaluation applies to this run's generator, or None when its architecture has no truncation."""
    from ganbench.models import ARCHITECTURES

    arch = settings["architecture"]
    defaults = ARCHITECTURES.get(arch["name"]).defaults
    if "truncation" not in defaults:
        return None
    psi = options.get("truncation_psi")
    return float(arch.get("truncation", defaults["truncation"]) if psi is None else psi)


def apply_truncation(net: torch.nn.Module, psi: float | None) -> torch.nn.Module:
    """Set ψ on the generator inside ``net`` (a conditional sampler's included); None leaves it as built."""
    if psi is not None:
        inner = getattr(net, "generator", net)
        if not hasattr(inner, "truncation_psi"):
            raise TypeError(f"{type(inner).__name__} has no truncation")
        inner.truncation_psi = float(psi)
    return net
