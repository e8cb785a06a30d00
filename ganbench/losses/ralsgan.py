"""Relativistic average least-squares GAN, RaLSGAN (Jolicoeur-Martineau, ICLR 2019): LSGAN's squared errors on the
critic's logits relative to the other batch's average,

  L_D = E_r[(C(x_r) − E_f[C(x_f)] − 1)²] + E_f[(C(x_f) − E_r[C(x_r)] + 1)²]
  L_G = E_f[(C(x_f) − E_r[C(x_r)] − 1)²] + E_r[(C(x_r) − E_f[C(x_f)] + 1)²]

(the paper's equations; G's loss is D's with real and fake exchanged, so G needs D's logits on the real batch in
its step: ``needs_real_logits_in_g_step``).
"""

from __future__ import annotations

from ganbench.losses.base import LOSSES, SymmetricRelativisticLoss


@LOSSES.register("ralsgan")
class RaLSGAN(SymmetricRelativisticLoss):
    citation = "Jolicoeur-Martineau, The relativistic discriminator: a key element missing from standard GAN " \
               "(ICLR 2019), RaLSGAN"
    equilibrium = (2.0, 2.0)  # equal logits on both: (−1)² + 1² each

    def d_loss(self, real_logits, fake_logits):
        return ((real_logits - fake_logits.mean() - 1.0) ** 2).mean() + \
            ((fake_logits - real_logits.mean() + 1.0) ** 2).mean()
