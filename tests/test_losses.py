"""GAN losses against values worked out by hand on small fixed logits, the gradient behaviour that motivates
the non-saturating loss (Goodfellow et al. 2014, Sec. 3), and the loss interface in the GAN's step: real and fake
logits in both steps, D's forward passes counted (the relativistic losses' real logits in G's step, R1 from the
logits D's step already computed).

Notation: D = sigmoid(l) for a logit l, so −log D = softplus(−l) and −log(1 − D) = softplus(l). The logits below
are chosen so that sigmoid(ln 3) = 3/4 and sigmoid(−ln 3) = 1/4 keep the logarithms exact.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench.config import SETTINGS_DEFAULTS, merge
from ganbench.losses import LOSSES, CriticPass
from ganbench.losses.wasserstein import gradient_penalty
from ganbench.train.gan import GAN

LN2, LN3 = math.log(2.0), math.log(3.0)
REAL = torch.tensor([0.0, LN3])  # D(x) = 1/2, 3/4
FAKE = torch.tensor([0.0, -LN3])  # D(G(z)) = 1/2, 1/4

# name → (D loss, G loss) on (REAL, FAKE), by hand
EXPECTED: dict[str, tuple[float, float]] = {
    # D: mean(−log D(x)) + mean(−log(1 − D(G(z)))) = (ln 2 + ln 4/3)/2 + (ln 2 + ln 4/3)/2 = ln 8/3
    # G (saturating) minimises mean(log(1 − D(G(z)))) = −(ln 2 + ln 4/3)/2
    "minimax": (math.log(8 / 3), -math.log(8 / 3) / 2),
    # G (non-saturating) minimises mean(−log D(G(z))) = (ln 2 + ln 4)/2 = 3/2 ln 2
    "nonsaturating": (math.log(8 / 3), 1.5 * LN2),
    # D: ½ mean((l_r − 1)²) + ½ mean(l_f²); G: ½ mean((l_f − 1)²)
    "lsgan": (0.5 * ((0 - 1) ** 2 + (LN3 - 1) ** 2) / 2 + 0.5 * (0 + LN3**2) / 2,
              0.5 * ((0 - 1) ** 2 + (-LN3 - 1) ** 2) / 2),
    # D: mean(l_f) − mean(l_r) = −ln3/2 − ln3/2; G: −mean(l_f) = ln3/2
    "wgan": (-LN3, LN3 / 2),
    "wgan-gp": (-LN3, LN3 / 2),
    # D: mean(relu(1 − l_r)) + mean(relu(1 + l_f)) = (1 + 0)/2 + (1 + 0)/2: ln 3 > 1 is beyond the margin
    # G: −mean(l_f)
    "hinge": (1.0, LN3 / 2),
    # relativistic average (Jolicoeur-Martineau 2019): means E[l_r] = ln3/2, E[l_f] = −ln3/2, so
    # l_r − E[l_f] = (ln3/2, 3ln3/2) and l_f − E[l_r] = −(ln3/2, 3ln3/2).
    # RaSGAN D: mean(softplus(−(l_r − E l_f))) + mean(softplus(l_f − E l_r)) = 2·½(ln(1 + 3^−½) + ln(1 + 3^−3/2))
    # G: D's loss with real and fake exchanged: mean(softplus(E l_r − l_f)) + mean(softplus(l_r − E l_f))
    "rasgan": (math.log(1 + 3**-0.5) + math.log(1 + 3**-1.5), math.log(1 + 3**0.5) + math.log(1 + 3**1.5)),
    # RaLSGAN D: mean((l_r − E l_f − 1)²) + mean((l_f − E l_r + 1)²)
    # G: mean((l_f − E l_r − 1)²) + mean((l_r − E l_f + 1)²)
    "ralsgan": ((LN3 / 2 - 1) ** 2 + (1.5 * LN3 - 1) ** 2, (LN3 / 2 + 1) ** 2 + (1.5 * LN3 + 1) ** 2),
}


def test_every_registered_loss_has_a_hand_computed_case():
    assert set(LOSSES.names()) <= set(EXPECTED)


def g_loss(name: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """G's loss as the GAN's step calls it: real logits only for a loss that declares it needs them."""
    loss = LOSSES.get(name)()
    return loss.g_loss(real_logits if loss.needs_real_logits_in_g_step else None, fake_logits)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_values_match_hand_computation(name):
    loss = LOSSES.get(name)()
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert g_loss(name, REAL, FAKE).item() == pytest.approx(g_expected, rel=1e-6)


@pytest.mark.parametrize("name", ["rasgan", "ralsgan"])
def test_relativistic_losses_compare_each_sample_with_the_other_batchs_average(name):
    """Shifting every logit by the same constant changes nothing (only differences to the other batch's mean
    count), and G's loss depends on the real logits: it is D's loss with the batches exchanged."""
    loss = LOSSES.get(name)()
    torch.manual_seed(0)
    real, fake = torch.randn(16), torch.randn(16)
    assert loss.d_loss(real + 3.0, fake + 3.0).item() == pytest.approx(loss.d_loss(real, fake).item(), rel=1e-5)
    assert loss.g_loss(real + 3.0, fake + 3.0).item() == pytest.approx(loss.g_loss(real, fake).item(), rel=1e-5)
    assert loss.g_loss(real, fake).item() == pytest.approx(loss.d_loss(fake, real).item(), rel=1e-6)
    assert loss.g_loss(real + 1.0, fake).item() != pytest.approx(loss.g_loss(real, fake).item(), rel=1e-3)


def test_a_declared_real_target_is_read_and_a_wasserstein_loss_estimates_the_critic_gap():
    """One-sided label smoothing acts through ``real_target``: the losses that declare ``uses_real_target`` read it
    (minimax: −0.9 log D − 0.1 log(1 − D) on reals; LSGAN: D's optimum on reals moves to 0.9), the others ignore
    it. A loss that declares ``wasserstein`` has D minimise E[D(G(z))] − E[D(x)]."""
    bce = LOSSES.get("minimax")()
    bce.real_target = 0.9
    real_part = (0.9 * LN2 + 0.1 * LN2 + 0.9 * math.log(4 / 3) + 0.1 * math.log(4)) / 2
    assert bce.d_loss(REAL, FAKE).item() == pytest.approx(real_part + (LN2 + math.log(4 / 3)) / 2, rel=1e-6)
    lsgan = LOSSES.get("lsgan")()
    lsgan.real_target = 0.9
    assert lsgan.d_loss(torch.tensor([0.9]), torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-7)
    for name in LOSSES.names():
        cls = LOSSES.get(name)
        plain, smoothed = cls(), cls()
        smoothed.real_target = 0.9
        moved = smoothed.d_loss(REAL, FAKE).item() != pytest.approx(plain.d_loss(REAL, FAKE).item())
        assert moved == cls.uses_real_target, name
        if cls.wasserstein:
            assert plain.d_loss(REAL, FAKE).item() == pytest.approx((FAKE.mean() - REAL.mean()).item()), name


@pytest.mark.parametrize("shape", [(2,), (1, 2, 2)])
def test_gradient_penalty_of_a_linear_critic_is_analytic(shape):
    """D(x) = w·x + b has ∇D = w everywhere, so the penalty is exactly (‖w‖ − 1)², times λ for wgan-gp."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 1), nn.Flatten(0))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[3.0, 4.0] + [0.0] * (math.prod(shape) - 2)]))  # ‖w‖ = 5
    real, fake = torch.randn(8, *shape), torch.randn(8, *shape)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0, rel=1e-6)
    assert gradient_penalty(critic, real, fake, center=0.0).item() == pytest.approx(25.0, rel=1e-6)
    passed = CriticPass(critic, real, fake, critic(real), critic(fake))
    assert LOSSES.get("wgan-gp")().penalty(passed).item() == pytest.approx(10 * 16.0, rel=1e-6)
    assert LOSSES.get("wgan-gp")({"gp_weight": 1.0}).penalty(passed).item() == pytest.approx(16.0)
    assert all(LOSSES.get(n)().penalty(passed) is None for n in LOSSES.names() if not LOSSES.get(n).gradient_penalty)


def _g_grad(name: str, logit: float) -> float:
    fake = torch.tensor([logit], requires_grad=True)
    (grad,) = torch.autograd.grad(LOSSES.get(name)().g_loss(None, fake), fake)
    return grad.item()


def test_minimax_g_saturates_where_nonsaturating_does_not():
    """When D confidently rejects fakes (logit −10, D(G(z)) ≈ 4.5e−5), log(1 − D) has a vanishing gradient,
    −log D a gradient of about −1 (minimising, so G is pushed up the logit)."""
    assert _g_grad("minimax", -10.0) == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)
    assert abs(_g_grad("minimax", -10.0)) < 1e-4
    assert _g_grad("nonsaturating", -10.0) == pytest.approx(-1.0, abs=1e-4)
    # where D is fooled (logit +10) it is the other way round
    assert _g_grad("minimax", 10.0) == pytest.approx(-1.0, abs=1e-4)
    assert abs(_g_grad("nonsaturating", 10.0)) < 1e-4


# ------------------------------------------------------------------------------ the loss interface in the GAN's step
def gan_with_counted_d(loss: str, **delta) -> tuple[GAN, list[torch.Tensor]]:
    """A small GAN on 2-D points and every input its discriminator reads from now on (a forward hook)."""
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 4, "batch_size": 8,
                                         "loss": loss, **delta})
    gan = GAN(settings, (2,), "points", 0, torch.device("cpu"))
    calls: list[torch.Tensor] = []
    gan.D.register_forward_hook(lambda module, args, out: calls.append(args[0]))
    return gan, calls


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_g_step_runs_d_on_the_real_batch_only_for_a_loss_that_needs_it(name):
    """D's step reads the real and the fake batch (and interpolates for a gradient penalty); G's step reads the
    fake batch, and the D step's real batch again only for a relativistic loss: the default step pays no extra
    forward pass."""
    gan, calls = gan_with_counted_d(name)
    real = torch.randn(8, 2)
    stats = gan.train_step(lambda: real)
    assert torch.isfinite(stats["loss_g"])
    d_calls = 2 + LOSSES.get(name).gradient_penalty
    needs = LOSSES.get(name).needs_real_logits_in_g_step
    assert len(calls) == d_calls + 1 + needs
    assert torch.equal(calls[0], real)
    if needs:
        assert torch.equal(calls[d_calls], real)  # the D step's real batch, through the updated D


def test_a_relativistic_g_step_needs_the_real_batch():
    gan, _ = gan_with_counted_d("rasgan")
    with pytest.raises(ValueError, match="real batch"):
        gan.g_step()
