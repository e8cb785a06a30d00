"""R1 regularisation (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?", Eq. 9):
(γ/2)·E_x[‖∇ₓD(x)‖²] on real data only, added to D's loss. A zero-centred gradient penalty on the data
distribution, which makes the GAN's training dynamics locally convergent near an equilibrium where G matches the
data (the paper's Theorem 4.1); StyleGAN trains with it (γ = 10 for FFHQ).

It costs no extra pass of D: the trick declares ``needs_real_input_grad``, so the real batch requires grad in D's
own forward pass of the step, and the penalty differentiates the real logits D already computed (``CriticPass``).
The gradient is taken per sample (with PacGAN, each sample's slice of its pack's gradient); for a conditional GAN
over the data, not the label channels. Like every per-sample gradient penalty it is refused on a batch-normalised
critic (see ``ganbench.losses.wasserstein``).
"""

from __future__ import annotations

import torch

from ganbench.losses.wasserstein import refuse_batchnorm_critic
from ganbench.options import POSITIVE
from ganbench.tricks.base import TRICKS, Trick


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, conditioning=None) -> torch.Tensor:
    """E[‖∇ₓD(x)‖²] from D's logits on a real batch ``real`` that required grad when D read it; kept in the graph
    (create_graph) so that D's backward pass differentiates it."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    if conditioning is not None:
        grad = conditioning.data_part(grad)
    return grad.flatten(1).square().sum(1).mean()


@TRICKS.register("r1")
class R1(Trick):
    defaults = {"gamma": 10.0}
    ranges = {"gamma": POSITIVE}
    citation = "Mescheder et al., Which Training Methods for GANs do actually Converge? (ICML 2018), Eq. 9"
    gradient_penalty = True
    needs_real_input_grad = True

    @classmethod
    def validate(cls, settings, key):
        refuse_batchnorm_critic(settings, key)

    def d_penalty(self, critic, ctx):
        return 0.5 * float(self.options["gamma"]) * r1_penalty(critic.real_logits, critic.real, critic.conditioning)
