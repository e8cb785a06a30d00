"""One GAN under training: G, D, their optimizers, the loss and the tricks, and one training step.

``train_step`` runs ``d_steps`` discriminator updates and one generator update (Goodfellow et al., Algorithm 1:
k steps of D per step of G). It returns the step's statistics as 0-d tensors, not Python numbers, so the hot loop
never waits for the device; the Trainer collects them and syncs once per ``log_every`` steps.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ganbench.losses import LOSSES
from ganbench.models import ARCHITECTURES
from ganbench.train.optim import make_optimizer
from ganbench.tricks import build_tricks

STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "critic_gap", "penalty")


class GAN:
    def __init__(self, settings: dict[str, Any], shape: tuple[int, ...], kind: str, num_classes: int,
                 device: torch.device):
        self.settings = settings
        self.device = device
        self.z_dim = int(settings["z_dim"])
        self.batch_size = int(settings["batch_size"])
        self.d_steps = int(settings["d_steps"])
        self.step = 0  # generator steps done
        arch = settings["architecture"]
        family = ARCHITECTURES.get(arch["name"])(shape, kind, self.z_dim, num_classes,
                                                 {k: v for k, v in arch.items() if k != "name"}, "architecture")
        self.G = family.generator().to(device)
        self.D = family.discriminator().to(device)
        loss = settings["loss"]
        self.loss = LOSSES.get(loss["name"])({k: v for k, v in loss.items() if k != "name"}, "loss")
        self.tricks = build_tricks(settings.get("tricks"))
        for trick in self.tricks:
            trick.on_models(self)
            trick.on_loss(self.loss)
        opt = settings["optimizer"]
        self.opt_g = make_optimizer(self.G.parameters(), opt["lr_g"], opt)
        self.opt_d = make_optimizer(self.D.parameters(), opt["lr_d"], opt)

    def sample_z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device)

    def d_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.G(self.sample_z(real.shape[0]))
        for trick in self.tricks:
            real, fake = trick.d_inputs(real, fake, self)
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = self.loss.d_loss(real_logits, fake_logits)
        penalty = self.loss.penalty(self.D, real, fake)
        total = loss if penalty is None else loss + penalty
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        for trick in self.tricks:
            trick.after_d_step(self)
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        return {
            "loss_d": total.detach(),
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
            "critic_gap": real_logits.mean() - fake_logits.mean(),
            "penalty": penalty.detach() if penalty is not None else torch.zeros((), device=self.device),
        }

    def g_step(self) -> torch.Tensor:
        fake = self.G(self.sample_z(self.batch_size))
        loss = self.loss.g_loss(self.D(fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        for trick in self.tricks:
            trick.after_g_step(self)
        return loss.detach()

    def train_step(self, next_real: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
        self.G.train()
        self.D.train()
        for _ in range(self.d_steps):
            stats = self.d_step(next_real())
        stats["loss_g"] = self.g_step()
        self.step += 1
        return stats

    # ------------------------------------------------------------------ state for checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "tricks": {t.key: t.state_dict() for t in self.tricks},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for trick in self.tricks:
            trick.load_state_dict(state["tricks"].get(trick.key, {}))

    def sampler(self) -> torch.nn.Module:
        """The network to draw samples from (tricks such as EMA may substitute their own copy)."""
        return getattr(self, "G_eval", None) or self.G
