"""GAN losses against values worked out by hand on small fixed logits, and the gradient behaviour that motivates
the non-saturating loss (Goodfellow et al. 2014, Sec. 3).

Notation: D = sigmoid(l) for a logit l, so −log D = softplus(−l) and −log(1 − D) = softplus(l). The logits below
are chosen so that sigmoid(ln 3) = 3/4 and sigmoid(−ln 3) = 1/4 keep the logarithms exact.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench.losses import LOSSES
from ganbench.losses.wasserstein import gradient_penalty

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
}


def test_every_registered_loss_has_a_hand_computed_case():
    assert set(LOSSES.names()) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_values_match_hand_computation(name):
    loss = LOSSES.get(name)()
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_real_target_is_where_smoothing_acts():
    bce = LOSSES.get("minimax")()
    bce.real_target = 0.9  # −0.9 log D − 0.1 log(1 − D) on reals
    real_part = (0.9 * LN2 + 0.1 * LN2 + 0.9 * math.log(4 / 3) + 0.1 * math.log(4)) / 2
    assert bce.d_loss(REAL, FAKE).item() == pytest.approx(real_part + (LN2 + math.log(4 / 3)) / 2, rel=1e-6)
    lsgan = LOSSES.get("lsgan")()
    lsgan.real_target = 0.9
    assert lsgan.d_loss(torch.tensor([0.9]), torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-7)
    assert {n for n in LOSSES.names() if LOSSES.get(n).uses_real_target} == {"minimax", "nonsaturating", "lsgan"}
    assert {n for n in LOSSES.names() if LOSSES.get(n).wasserstein} == {"wgan", "wgan-gp"}


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
    assert LOSSES.get("wgan-gp")().penalty(critic, real, fake).item() == pytest.approx(10 * 16.0, rel=1e-6)
    assert LOSSES.get("wgan-gp")({"gp_weight": 1.0}).penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert all(LOSSES.get(n)().penalty(critic, real, fake) is None for n in LOSSES.names() if n != "wgan-gp")


def _g_grad(name: str, logit: float) -> float:
    fake = torch.tensor([logit], requires_grad=True)
    (grad,) = torch.autograd.grad(LOSSES.get(name)().g_loss(fake), fake)
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
