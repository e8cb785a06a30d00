"""Relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau, ICLR 2019).

The discriminator estimates how much more realistic a real sample is than the average fake, not how real a sample
is: with C the critic's logits, D̃(x_r) = σ(C(x_r) − E_f[C(x_f)]) and D̃(x_f) = σ(C(x_f) − E_r[C(x_r)]),

  L_D = −E_r[log D̃(x_r)] − E_f[log(1 − D̃(x_f))]
  L_G = −E_f[log D̃(x_f)] − E_r[log(1 − D̃(x_r))]

G's loss is D's with real and fake exchanged, so G also lowers how real the reals look relative to the fakes (the
paper's argument: a generator that knows half of D's inputs are fake should make the reals look less real); it
needs D's logits on the real batch in its step (``needs_real_logits_in_g_step``). With −log σ(a) = softplus(−a)
and −log(1 − σ(a)) = softplus(a).
"""

from __future__ import annotations

import torch.nn.functional as F

from ganbench.losses.base import LOSSES, SymmetricRelativisticLoss


@LOSSES.register("rasgan")
class RaSGAN(SymmetricRelativisticLoss):
    citation = "Jolicoeur-Martineau, The relativistic discriminator: a key element missing from standard GAN " \
               "(ICLR 2019), RaSGAN"
    equilibrium = (1.3862943611198906, 1.3862943611198906)  # equal logits on both: 2 softplus(0) = 2 log 2 each

    def d_loss(self, real_logits, fake_logits):
        return F.softplus(fake_logits.mean() - real_logits).mean() + F.softplus(fake_logits - real_logits.mean()).mean()
