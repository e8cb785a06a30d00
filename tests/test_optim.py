"""Optimizers per network (``optimizer.g`` / ``optimizer.d``), weight decay, and the differentiable optimizer steps
that the second-order unrolled GAN differentiates through (each equal to its torch optimizer's step)."""

from __future__ import annotations

import pytest
import torch

from ganbench.config import SETTINGS_DEFAULTS, merge
from ganbench.train.gan import GAN
from ganbench.train.optim import FUNCTIONAL_UPDATES, OPTIMIZERS, make_optimizer, network_settings, optimizer_state

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def gan_with(optimizer: dict, **delta) -> GAN:
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 4,
                                         "batch_size": 8, "optimizer": optimizer, **delta})
    return GAN(settings, (2,), "points", 0, CPU)


def test_network_settings_merge_each_networks_block_over_the_shared_ones():
    shared = {"name": "adam", "lr_g": 1e-4, "lr_d": 4e-4, "betas": [0.5, 0.999], "g": {"name": "rmsprop"},
              "d": {"weight_decay": 1e-3, "betas": [0.0, 0.9]}}
    assert network_settings(shared, "g") == {"name": "rmsprop", "lr_g": 1e-4, "lr_d": 4e-4, "betas": [0.5, 0.999]}
    assert network_settings(shared, "d") == {"name": "adam", "lr_g": 1e-4, "lr_d": 4e-4, "betas": [0.0, 0.9],
                                             "weight_decay": 1e-3}
    plain = {"name": "sgd", "lr_g": 1.0, "lr_d": 2.0}
    assert network_settings(plain, "g") == network_settings(plain, "d") == plain


def test_g_and_every_d_get_their_own_optimizer_and_weight_decay():
    gan = gan_with({"name": "adam", "lr_g": 1e-4, "lr_d": 3e-4, "g": {"name": "rmsprop", "momentum": 0.5},
                    "d": {"weight_decay": 1e-3}}, tricks={"multi_d": {"count": 2}})
    assert isinstance(gan.opt_g, torch.optim.RMSprop)
    assert gan.opt_g.defaults["lr"] == 1e-4 and gan.opt_g.defaults["momentum"] == 0.5
    assert gan.opt_g.defaults["weight_decay"] == 0.0
    assert len(gan.opt_ds) == 2
    for opt in gan.opt_ds:
        assert isinstance(opt, torch.optim.Adam)
        assert opt.defaults["lr"] == 3e-4 and opt.defaults["weight_decay"] == 1e-3


def test_weight_decay_penalises_d_weights():
    """With SGD, D's update with weight decay λ differs from the one without by exactly −lr·λ·θ."""
    nets = {}
    for decay in (0.0, 0.1):
        torch.manual_seed(0)
        nets[decay] = gan_with({"name": "sgd", "lr_g": 0.01, "lr_d": 0.01, "d": {"weight_decay": decay}})
    before = [p.detach().clone() for p in nets[0.0].D.parameters()]
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    for gan in nets.values():
        gan.update_d(gan.D, gan.opt_d, real, fake)
    for b, plain, decayed in zip(before, nets[0.0].D.parameters(), nets[0.1].D.parameters()):
        assert torch.allclose(decayed - plain, -0.01 * 0.1 * b, atol=1e-7)


def test_every_optimizer_has_a_differentiable_step():
    assert set(FUNCTIONAL_UPDATES.names()) == set(OPTIMIZERS.names())


@pytest.mark.parametrize("name", OPTIMIZERS.names())
@pytest.mark.parametrize("extra", [{}, {"momentum": 0.9, "weight_decay": 0.01}])
def test_differentiable_step_equals_the_torch_optimizer(name, extra):
    """Three steps of the torch optimizer against the functional form, which starts from the optimizer's own state
    after the first step (``optimizer_state``); same parameters after every step."""
    torch.manual_seed(0)
    settings = {"name": name, "betas": [0.5, 0.99], **extra}
    p = torch.nn.Parameter(torch.randn(5, 3))
    p.data[0] = 0.0  # a row that never gets a gradient: its second moment stays 0
    grads = [torch.randn(5, 3) for _ in range(3)]
    for g in grads:
        g[0] = 0.0
    opt = make_optimizer([p], 0.01, settings)
    p.grad = grads[0]
    opt.step()
    value, state = p.detach().clone(), optimizer_state(opt, p)
    for g in grads[1:]:
        p.grad = g
        opt.step()
        value, state = FUNCTIONAL_UPDATES.get(name)(value, g, state, 0.01, settings)
        assert torch.allclose(value, p.detach(), atol=1e-6), name


def test_differentiable_step_has_finite_second_derivatives_at_zero_gradients():
    """Unused parameters (zero gradients, zero second moments) must not turn the unrolled gradient into NaN."""
    p = torch.zeros(3, requires_grad=True)
    for name in FUNCTIONAL_UPDATES.names():
        g = p * 0.0  # a zero gradient that still depends on p
        new, _ = FUNCTIONAL_UPDATES.get(name)(p, g, {}, 0.01, {"betas": [0.5, 0.99]})
        (grad,) = torch.autograd.grad(new.sum(), p)
        assert torch.isfinite(grad).all(), name
