"""What a trick may see and change of the GAN it is part of: the narrow protocol of ``ganbench.tricks.base``.

Every hook of a trick receives a ``TrickContext`` instead of the GAN: a handful of read-only facts (the generator
step, the device, the conditioning, G, the configured batch size and run length), the few changes tricks make while
the GAN is built (one more discriminator, the network to sample from, the number of samples per batch, the real
target of the loss), the optimizers a schedule drives, and the pieces of D's update that a look-ahead (unrolled)
needs. Nothing else of the GAN is within a trick's reach, so the GAN's internals can change without touching any
trick, and what a trick does to the GAN is visible here in one place.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ganbench.train.conditioning import Conditioning
    from ganbench.train.gan import GAN


class TrickContext:
    def __init__(self, gan: "GAN"):
        self._gan = gan

    # ------------------------------------------------------------------ what a trick may read
    @property
    def step(self) -> int:
        """Generator steps done so far."""
        return self._gan.step

    @property
    def device(self) -> torch.device:
        return self._gan.device

    @property
    def conditioning(self) -> "Conditioning":
        """How class labels travel in D's inputs (``map_data``/``data_part`` act on the data alone)."""
        return self._gan.conditioning

    @property
    def generator(self) -> nn.Module:
        """G, the network under training (EMA averages its weights, gradient clipping its gradients)."""
        return self._gan.G

    @property
    def batch_size(self) -> int:
        """Samples drawn per real or fake batch."""
        return self._gan.batch_size

    @property
    def total_steps(self) -> int:
        """The run's generator steps (``steps`` of the settings)."""
        return int(self._gan.settings["steps"])

    @property
    def discriminator_count(self) -> int:
        return len(self._gan.Ds)

    # ------------------------------------------------------------------ changes while the GAN is built
    def add_discriminator(self) -> nn.Module:
        """One more discriminator (``on_models``): built like the first, every trick's ``on_discriminator``
        applied; it gets its own optimizer and is trained on the same batches."""
        if self._gan.opt_ds:
            raise RuntimeError("discriminators can only be added in on_models, before the optimizers exist")
        D = self._gan.new_discriminator()
        self._gan.Ds.append(D)
        return D

    def set_sampler(self, net: nn.Module) -> None:
        """Sample from ``net`` instead of G (samples, snapshots, ``generator.pt``); G's own weights are then kept as
        ``generator_raw.pt``."""
        self._gan.G_eval = net

    def set_batch_size(self, n: int) -> None:
        """Draw ``n`` samples per real and fake batch (PacGAN: ``batch_size`` packs of m samples)."""
        self._gan.batch_size = int(n)

    def set_real_target(self, target: float) -> None:
        """The target of D's loss on real samples (one-sided label smoothing), for a loss that has one."""
        if not self._gan.loss.uses_real_target:
            raise ValueError(f"loss {type(self._gan.loss).__name__} has no real target")
        self._gan.loss.real_target = float(target)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """G's optimizer, then every discriminator's (``on_optimizers`` and later)."""
        return [self._gan.opt_g, *self._gan.opt_ds]

    # ------------------------------------------------------------------ D updates outside the step (look-ahead)
    def next_real(self) -> torch.Tensor:
        """A fresh real batch from the current step's data source (inside ``GAN.train_step`` only)."""
        if self._gan.next_real is None:
            raise RuntimeError("no data source: real batches exist only inside GAN.train_step")
        return self._gan.next_real()

    def generate(self, n: int, graph: bool) -> torch.Tensor:
        """``n`` fresh samples of G in the form D reads them; with ``graph`` they carry G's graph."""
        with nullcontext() if graph else torch.no_grad():
            return self._gan.generate(self._gan.sample_z(n))

    def perceived(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as every discriminator reads it (every trick's ``critic_inputs``)."""
        return self._gan.perceived(x)

    def d_objective(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's total loss on (real, fake), penalties included (``GAN.d_objective``)."""
        return self._gan.d_objective(D, real, fake)[0]

    def update_d(self, D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor,
                 fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimizer step of ``D`` on (real, fake) with the per-D hooks (``GAN.update_d``)."""
        return self._gan.update_d(D, opt, real, fake)

    def d_optimizer(self, D: nn.Module) -> torch.optim.Optimizer:
        """The optimizer that trains discriminator ``D``."""
        return self._gan.d_optimizer(D)

    def new_d_optimizer(self, D: nn.Module) -> torch.optim.Optimizer:
        """A fresh optimizer for ``D`` with the discriminators' settings."""
        return self._gan.new_d_optimizer(D)

    @property
    def d_optimizer_settings(self) -> dict[str, Any]:
        """The discriminators' optimizer settings (``optimizer`` with ``optimizer.d`` over it)."""
        return self._gan.optimizer_settings("d")
