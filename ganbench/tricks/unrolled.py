"""Unrolled GAN (Metz et al. 2017): G's loss is computed against the discriminator D would become after k more
training steps, so G is penalised for moves that D could answer at once (the oscillation behind mode collapse).

For each G step every discriminator is advanced by ``steps`` discriminator updates (same loss, penalties, optimizer
and settings, continuing D's optimizer state, on fresh real batches and fresh fakes, each D input perturbed as every
D input is: ``GAN.perceived``), and G's loss is evaluated through the advanced discriminator; D's own weights and
optimizer state are untouched.

``second_order: true`` (the default) is the paper's method (Metz et al., Eq. 6-7): the k updates are differentiable
functions of G's parameters, written with ``torch.func.functional_call`` over the unrolled parameters and the
optimizer's update as a function (``ganbench.train.optim.FUNCTIONAL_UPDATES``), so G's gradient also flows back
through the updates: dθ_D^k/dθ_G, how D would answer a change of G. That term is what makes G anticipate D's
answer, and Metz et al. find it essential ("the second term ... is key"); it costs a backward pass through k
updates with their graphs kept, about twice the first-order form's time and k times its memory. It is the default
because it is what the paper proposes; ``second_order: false`` is the cheap approximation: D is deep-copied and
advanced with its ordinary optimizer, and G's gradient flows through the advanced D's forward pass only.

The differentiable updates cannot run hooks that act on a discriminator's weights in place (``before_d_step``,
``after_d_step``: gradient clipping, weight clipping), so the config check refuses those tricks with
``second_order: true``. The fakes of the unrolled updates are generated with G's graph; experience replay
(``d_inputs``) is not applied to them in either form, since it would store them in the buffer.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from ganbench.errors import ConfigError
from ganbench.options import COUNT
from ganbench.train.optim import FUNCTIONAL_UPDATES, optimizer_state
from ganbench.tricks.base import TRICKS, Trick


class UnrolledCritic(nn.Module):
    """Discriminator ``D`` evaluated with other parameter and buffer tensors (those of the unrolled updates).
    ``D`` is held, not registered: the critic has no parameters of its own."""

    def __init__(self, D: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]):
        super().__init__()
        self._net = (D,)
        self.params, self.tensors = params, buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self._net[0], (self.params, self.tensors), (x,))


def _overrides(cls: type, hook: str) -> bool:
    return getattr(cls, hook) is not getattr(Trick, hook)


@TRICKS.register("unrolled")
class Unrolled(Trick):
    defaults = {"steps": 5, "second_order": True}
    ranges = {"steps": COUNT}
    citation = "Metz et al., Unrolled Generative Adversarial Networks (ICLR 2017)"

    @classmethod
    def validate(cls, settings, key):
        if not cls.configured(settings, key)["second_order"]:
            return
        from ganbench.train.optim import network_settings
        from ganbench.tricks import TRICKS as registry

        optimizer = network_settings(settings["optimizer"], "d")["name"]
        if optimizer not in FUNCTIONAL_UPDATES:
            raise ConfigError(f"{key}.second_order: the differentiable unrolled updates need D's optimizer as a "
                              f"differentiable function, and {optimizer!r} has none "
                              f"(ganbench.train.optim.FUNCTIONAL_UPDATES); use second_order: false with it")

        for name, options in (settings.get("tricks") or {}).items():
            other = registry.get(name)
            if options not in (None, False) and (_overrides(other, "before_d_step") or
                                                 _overrides(other, "after_d_step")):
                raise ConfigError(f"{key}.second_order: the differentiable unrolled updates cannot apply "
                                  f"tricks.{name}, which changes D's gradients or weights in place; use "
                                  f"second_order: false with it")

    def g_critic(self, D, ctx):
        if self.options["second_order"]:
            return self.unroll_differentiably(D, ctx)
        critic = copy.deepcopy(D)
        critic_opt = ctx.new_d_optimizer(critic)
        critic_opt.load_state_dict(copy.deepcopy(ctx.d_optimizer(D).state_dict()))
        for _ in range(int(self.options["steps"])):
            real = ctx.next_real()
            fake = ctx.generate(real.shape[0], graph=False)
            ctx.update_d(critic, critic_opt, ctx.perceived(real), ctx.perceived(fake))
        return critic

    def unroll_differentiably(self, D: nn.Module, ctx) -> UnrolledCritic:
        """D after ``steps`` functional updates whose parameters stay functions of G's parameters."""
        opt = ctx.d_optimizer(D)
        settings = ctx.d_optimizer_settings
        update = FUNCTIONAL_UPDATES.get(settings["name"], key="optimizer.d.name")
        lr = opt.param_groups[0]["lr"]  # as a learning-rate schedule has set it
        names = [name for name, _ in D.named_parameters()]
        # D's own weights are constants here (G's step trains G only): the unrolled parameters start as copies
        params = [p.detach().requires_grad_(True) for p in D.parameters()]
        states = [optimizer_state(opt, p) for p in D.parameters()]
        buffers = {name: b.clone() for name, b in D.named_buffers()}  # BatchNorm, spectral-norm vectors
        critic = UnrolledCritic(D, dict(zip(names, params)), buffers)
        for _ in range(int(self.options["steps"])):
            real = ctx.next_real()
            fake = ctx.generate(real.shape[0], graph=True)  # with G's graph
            total = ctx.d_objective(critic, ctx.perceived(real), ctx.perceived(fake))
            grads = torch.autograd.grad(total, params, create_graph=True, allow_unused=True,
                                        materialize_grads=True)  # an unused parameter's gradient is 0
            stepped = [update(p, g, s, lr, settings) for p, g, s in zip(params, grads, states)]
            params, states = [p for p, _ in stepped], [s for _, s in stepped]
            critic.params = dict(zip(names, params))
        return critic
