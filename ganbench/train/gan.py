"""One GAN under training: G, its discriminators, their optimizers, the loss and the tricks, and one training step.

``train_step`` runs ``d_steps`` discriminator updates and one generator update (Goodfellow et al., Algorithm 1:
k steps of D per step of G). It returns the step's statistics as 0-d tensors, not Python numbers, so the hot loop
never waits for the device; the Trainer collects them and syncs once per ``log_every`` steps.

There is a list of discriminators ``Ds`` (one unless the ``multi_d`` trick adds more), each with its own optimizer;
every one is trained on the same batch and G minimises the mean of its losses against them. ``D`` and ``opt_d``
name the first. Tricks act only through the hooks of ``ganbench.tricks.base``, and see and change the GAN only
through its ``TrickContext`` (``ganbench.train.context``): the step has no trick-specific code. Whatever any
discriminator reads passes through ``perceived`` (the tricks' ``critic_inputs``, e.g. instance noise), in D's
steps and in G's.

The loss sees real and fake logits in both steps (``ganbench.losses.base``). G's step evaluates D on the real batch
of the last D step only for a loss that declares ``needs_real_logits_in_g_step`` (relativistic losses); a
penalty gets the logits D's step computed (``CriticPass``), and when the loss or a trick declares
``needs_real_input_grad`` (R1) the real batch requires grad for that forward pass, so such a regulariser costs no
extra pass of D.

G and the discriminators each have their own optimizer settings (``optimizer.g``/``optimizer.d`` over the shared
ones, see ``ganbench.train.optim.network_settings``): a different optimizer or weight decay per network.

``STAT_NAMES`` are the log's columns: the step's own statistics, then those every registered trick declares in
``stat_names`` (a run without that trick logs 0 there).

The GAN is one of the Trainer's training models (``ganbench.train.models.TrainingModel``): ``networks()``,
``sampler()``, ``raw_generator()``, ``batches_per_step``, the state methods.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import nn

from ganbench.losses import LOSSES, CriticPass
from ganbench.models import ARCHITECTURES
from ganbench.train.conditioning import conditioning_of
from ganbench.train.context import TrickContext
from ganbench.train.optim import make_optimizer, network_settings
from ganbench.tricks import TRICKS, build_tricks

STEP_STATS = ("loss_d", "loss_g", "d_real", "d_fake", "critic_gap", "penalty")
STAT_NAMES = STEP_STATS + tuple(stat for name in TRICKS.names() for stat in TRICKS.get(name).stat_names)


class GAN:
    adversarial: ClassVar[bool] = True  # G against discriminators: losses, tricks and conditioning apply
    # the step's speed choices, switchable for benchmarks/trainer_ablation.py (which times each against the old step)
    reuse_fake_in_g_step: ClassVar[bool] = True  # G's step reuses the last D step's fake batch (one G forward)
    freeze_critics_in_g_step: ClassVar[bool] = True  # no D weight gradients in G's step

    def __init__(self, settings: dict[str, Any], shape: tuple[int, ...], kind: str, num_classes: int,
                 device: torch.device):
        self.settings = settings
        self.device = device
        self.z_dim = int(settings["z_dim"])
        self.batch_size = int(settings["batch_size"])
        self.d_steps = int(settings["d_steps"])
        self.step = 0  # generator steps done
        self.next_real: Callable[[], torch.Tensor] | None = None  # the current step's data source
        arch = settings["architecture"]
        self.shape = tuple(shape)
        self.conditioning = conditioning_of(settings, num_classes)
        self.family = ARCHITECTURES.build(arch, "architecture", shape, kind, self.conditioning.g_inputs(self.z_dim),
                                          num_classes)
        d_shape = self.conditioning.d_shape(self.shape)
        self.d_family = self.family if d_shape == self.shape else ARCHITECTURES.build(
            arch, "architecture", d_shape, kind, self.z_dim, num_classes)
        self.loss = LOSSES.build(settings["loss"], "loss")
        self.tricks = build_tricks(settings.get("tricks"))
        self.context = TrickContext(self)  # all that the tricks' hooks get to see of this GAN
        # D's forward pass on the real batch tracks ∇ₓD(x) for a regulariser that needs it (R1)
        self.real_input_grad = self.loss.needs_real_input_grad or any(t.needs_real_input_grad for t in self.tricks)
        G = self.family.generator()
        for trick in self.tricks:
            G = trick.on_generator(G, self.context)
        self.G: nn.Module = G.to(device)
        self.G_eval: nn.Module | None = None  # a substitute network to sample from (EMA)
        self.opt_ds: list[torch.optim.Optimizer] = []  # made once every trick has had on_models
        self.Ds: list[nn.Module] = [self.new_discriminator()]
        for trick in self.tricks:
            trick.on_models(self.context)
        self.opt_g = make_optimizer(self.G.parameters(), self.lr_g, self.optimizer_settings("g"))
        self.opt_ds = [self.new_d_optimizer(D) for D in self.Ds]
        for trick in self.tricks:
            trick.on_optimizers(self.context)
        # statistics no active trick provides are logged as 0
        provided = {stat for trick in self.tricks for stat in trick.stat_names}
        if not provided <= set(STAT_NAMES):
            raise ValueError(f"trick statistics {sorted(provided - set(STAT_NAMES))} are not in STAT_NAMES: register "
                             f"the trick (ganbench/tricks/__init__.py) before ganbench.train.gan is imported")
        self._zero = torch.zeros((), device=device)
        self._absent_stats = [name for name in STAT_NAMES[len(STEP_STATS):] if name not in provided]

    # ------------------------------------------------------------------ construction helpers
    @property
    def lr_g(self) -> float:
        return float(self.settings["optimizer"]["lr_g"])

    @property
    def lr_d(self) -> float:
        return float(self.settings["optimizer"]["lr_d"])

    def new_discriminator(self) -> nn.Module:
        """A freshly initialised discriminator with every trick's ``on_discriminator`` applied."""
        D = self.conditioning.wrap_discriminator(self.d_family.discriminator(), self.shape)
        for trick in self.tricks:
            D = trick.on_discriminator(D, self.context)
        return D.to(self.device)

    def optimizer_settings(self, net: str) -> dict[str, Any]:
        """The optimizer settings of network ``net``: "g" or "d" (every discriminator)."""
        return network_settings(self.settings["optimizer"], net)

    def new_d_optimizer(self, D: nn.Module) -> torch.optim.Optimizer:
        """An optimizer for ``D`` with the configured settings (``lr_d``, ``optimizer.d``)."""
        return make_optimizer(D.parameters(), self.lr_d, self.optimizer_settings("d"))

    @property
    def D(self) -> nn.Module:
        return self.Ds[0]

    @property
    def opt_d(self) -> torch.optim.Optimizer:
        return self.opt_ds[0]

    def d_optimizer(self, D: nn.Module) -> torch.optim.Optimizer:
        """The optimizer that trains discriminator ``D`` (one of ``Ds``)."""
        for candidate, opt in zip(self.Ds, self.opt_ds):
            if candidate is D:
                return opt
        raise ValueError("not one of this GAN's discriminators")

    def sample_z(self, n: int) -> torch.Tensor:
        """G's input: noise, with random class labels appended for a conditional GAN."""
        return self.conditioning.code(torch.randn(n, self.z_dim, device=self.device), None)

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        """G's samples for ``code`` in the form D reads them (with their labels, for a conditional GAN)."""
        return self.conditioning.attach(self.G(code), self.conditioning.labels_of(code))

    def real_batch(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """A real batch in the form D reads it."""
        if not self.conditioning.active:
            return x
        return self.conditioning.attach(x, self.conditioning.one_hot(labels))

    def perceived(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as a discriminator reads it: every trick's ``critic_inputs`` applied (instance noise)."""
        for trick in self.tricks:
            x = trick.critic_inputs(x, self.context)
        return x

    # ------------------------------------------------------------------ discriminator
    def d_objective(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """D's loss on one batch: (total, penalty, real logits, fake logits); total includes the penalty (the
        loss's own, e.g. WGAN-GP's, plus every trick's ``d_penalty``), computed from this one forward pass."""
        if self.real_input_grad and not real.requires_grad:
            real = real.detach().requires_grad_(True)
        real_logits, fake_logits = self.critic_logits(D, real, fake)
        total = self.loss.d_loss(real_logits, fake_logits)
        penalty = torch.zeros((), device=real.device)
        critic = CriticPass(D, real, fake, real_logits, fake_logits, self.conditioning)
        terms = [self.loss.penalty(critic), *(t.d_penalty(critic, self.context) for t in self.tricks)]
        for term in terms:
            if term is not None:
                penalty = penalty + term
        return total + penalty, penalty, real_logits, fake_logits

    def critic_logits(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits on the real and on the fake batch: two forward passes (D may normalise over its batch)."""
        return D(real), D(fake)

    def update_d(self, D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor,
                 fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimizer step of discriminator ``D`` on (real, fake), with the per-D trick hooks; its statistics."""
        total, penalty, real_logits, fake_logits = self.d_objective(D, real, fake)
        opt.zero_grad(set_to_none=True)
        total.backward()
        for trick in self.tricks:
            trick.before_d_step(D, self.context)
        opt.step()
        for trick in self.tricks:
            trick.after_d_step(D, self.context)
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        return {
            "loss_d": total.detach(),
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
            "critic_gap": real_logits.mean() - fake_logits.mean(),
            "penalty": penalty.detach(),
        }

    def d_step(self, real: torch.Tensor, keep_fake: bool = False
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor]:
        """Update every discriminator once on one batch: (statistics averaged over the discriminators, the kept
        fake batch or None, the real batch as the discriminators read it).

        With ``keep_fake`` the fake batch is generated with its graph and returned, so the generator step that
        follows reuses it instead of running G forward again (as the PyTorch DCGAN example does); D only ever
        sees it detached. The real batch is what G's step evaluates a relativistic loss on."""
        z = self.sample_z(real.shape[0])
        if keep_fake:
            kept = self.generate(z)
            fake = kept.detach()
        else:
            kept = None
            with torch.no_grad():
                fake = self.generate(z)
        for trick in self.tricks:
            real, fake = trick.d_inputs(real, fake, self.context)
        real, fake = self.perceived(real), self.perceived(fake)
        stats = [self.update_d(D, opt, real, fake) for D, opt in zip(self.Ds, self.opt_ds)]
        if len(stats) == 1:
            return stats[0], kept, real
        return {k: torch.stack([s[k] for s in stats]).mean() for k in stats[0]}, kept, real

    # ------------------------------------------------------------------ generator
    def g_critic(self, D: nn.Module) -> nn.Module:
        """The network G's loss is computed against in place of ``D`` (D itself unless a trick substitutes)."""
        for trick in self.tricks:
            D = trick.g_critic(D, self.context)
        return D

    def g_step(self, fake: torch.Tensor | None = None, real: torch.Tensor | None = None) -> torch.Tensor:
        """One generator update against every discriminator (mean loss). ``fake``: a batch G produced with its
        graph (from the last D step), else a fresh one. ``real``: the last D step's real batch as D read it, which
        a loss that ``needs_real_logits_in_g_step`` is evaluated on. The critics' own weight gradients are not
        needed, so their parameters are frozen for the backward pass."""
        if fake is None:
            fake = self.generate(self.sample_z(self.batch_size))
        fake = self.perceived(fake)
        critics = [self.g_critic(D) for D in self.Ds]
        freeze = self.freeze_critics_in_g_step
        if freeze:
            for critic in critics:
                critic.requires_grad_(False)
        try:
            if self.loss.needs_real_logits_in_g_step:
                if real is None:
                    raise ValueError(f"loss {type(self.loss).__name__} needs D's logits on a real batch in G's step; "
                                     "pass the D step's real batch")
                losses = [self.loss.g_loss(critic(real), critic(fake)) for critic in critics]
            else:
                losses = [self.loss.g_loss(None, critic(fake)) for critic in critics]
            loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            if freeze:
                for critic in critics:
                    critic.requires_grad_(True)
        for trick in self.tricks:
            trick.before_g_step(self.context)
        self.opt_g.step()
        for trick in self.tricks:
            trick.after_g_step(self.context)
        return loss.detach()

    def train_step(self, next_real: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
        self.next_real = next_real
        self.G.train()
        for D in self.Ds:
            D.train()
        for i in range(self.d_steps):
            stats, fake, real = self.d_step(next_real(), keep_fake=self.reuse_fake_in_g_step and i == self.d_steps - 1)
        stats["loss_g"] = self.g_step(fake, real)
        for trick in self.tricks:
            stats.update(trick.stats(self.context))
        for name in self._absent_stats:
            stats[name] = self._zero
        self.step += 1
        return stats

    # ------------------------------------------------------------------ state for checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "G": self.G.state_dict(),
            "Ds": [D.state_dict() for D in self.Ds],
            "opt_g": self.opt_g.state_dict(),
            "opt_ds": [opt.state_dict() for opt in self.opt_ds],
            "tricks": {t.key: t.state_dict() for t in self.tricks},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.G.load_state_dict(state["G"])
        self.opt_g.load_state_dict(state["opt_g"])
        d_states = state["Ds"] if "Ds" in state else [state["D"]]  # checkpoints from before multi_d
        opt_states = state["opt_ds"] if "opt_ds" in state else [state["opt_d"]]
        if len(d_states) != len(self.Ds):
            raise ValueError(f"checkpoint has {len(d_states)} discriminators, this GAN {len(self.Ds)}")
        for D, opt, d_state, opt_state in zip(self.Ds, self.opt_ds, d_states, opt_states):
            D.load_state_dict(d_state)
            opt.load_state_dict(opt_state)
        for trick in self.tricks:
            trick.load_state_dict(state["tricks"].get(trick.key, {}))

    # ------------------------------------------------------------------ the Trainer's view (TrainingModel)
    @property
    def batches_per_step(self) -> int:
        """Real batches the step's own D updates read (the Trainer counts images/s by it)."""
        return self.d_steps

    def networks(self) -> dict[str, nn.Module]:
        """Every network under training by name: G and each discriminator (the divergence check, torch.compile)."""
        return {"G": self.G, **{f"D{i}" if len(self.Ds) > 1 else "D": D for i, D in enumerate(self.Ds)}}

    def sampler(self) -> nn.Module:
        """The network to draw samples from: ``G_eval`` when a trick (EMA) sets one, else G."""
        return self.G_eval if self.G_eval is not None else self.G

    def raw_generator(self) -> nn.Module | None:
        """G itself when samples come from another network (EMA), to be kept beside it; else None."""
        return self.G if self.G_eval is not None else None
