"""Unrolled GAN (Metz et al. 2017): G's loss is computed against the discriminator D would become after k more
training steps, so G is penalised for moves that D could answer at once (the oscillation behind mode collapse).

For each G step every discriminator is copied together with its optimizer state, the copy takes ``steps`` ordinary
discriminator updates (same loss, penalties, optimizer settings and per-D tricks, on fresh real batches and fresh
fakes), and G's loss is evaluated through the copy; the copy is then dropped, so D's own weights and optimizer
state are untouched. G's gradient flows through the unrolled D's forward pass but not back through the k update
steps: the first-order form of Metz et al.'s Eq. 6 (the second-order term needs differentiable optimizer steps).
D-input tricks (noise, replay) are not applied to the unrolled steps.
"""

from __future__ import annotations

import copy

import torch

from ganbench.errors import ConfigError
from ganbench.tricks.base import TRICKS, Trick


@TRICKS.register("unrolled")
class Unrolled(Trick):
    defaults = {"steps": 5}
    citation = "Metz et al., Unrolled Generative Adversarial Networks (ICLR 2017)"

    def __init__(self, options, key):
        super().__init__(options, key)
        if not isinstance(self.options["steps"], int) or self.options["steps"] < 1:
            raise ConfigError(f"{key}.steps: expected an integer >= 1, got {self.options['steps']!r}")

    def g_critic(self, D, gan):
        if gan.next_real is None:
            raise RuntimeError(f"{self.key}: unrolling needs real batches; run it inside GAN.train_step")
        critic = copy.deepcopy(D)
        critic_opt = gan.new_d_optimizer(critic)
        critic_opt.load_state_dict(copy.deepcopy(gan.d_optimizer(D).state_dict()))
        for _ in range(int(self.options["steps"])):
            real = gan.next_real()
            with torch.no_grad():
                fake = gan.generate(gan.sample_z(real.shape[0]))
            gan.update_d(critic, critic_opt, real, fake)
        return critic
