"""Training tricks: each does what it claims (unit tests), each and several together train (finite losses, moving
weights), their state survives a checkpoint, and bad combinations are refused by the config check.

Everything runs on tiny networks on the CPU: an MLP on 2-D points, a narrow DCGAN on 28×28 images.
"""

from __future__ import annotations

import copy
import io
import math
from typing import Any, Callable

import pytest
import torch
from torch import nn

from ganbench.config import SETTINGS_DEFAULTS, Config, merge
from ganbench.errors import ConfigError
from ganbench.losses import CriticPass
from ganbench.train.gan import GAN, STAT_NAMES
from ganbench.tricks import TRICKS, Trick
from ganbench.tricks.experience_replay import ExperienceReplay
from ganbench.tricks.gradient_penalty import GradientPenalty
from ganbench.tricks.instance_noise import InstanceNoise
from ganbench.tricks.lr_schedule import lr_factor
from ganbench.tricks.minibatch_discrimination import MinibatchDiscrimination
from ganbench.tricks.minibatch_stddev import MinibatchStdDev
from ganbench.tricks.pacgan import Packed
from ganbench.tricks.surgery import first_layer, head
from ganbench.tricks.unrolled import Unrolled

CPU = torch.device("cpu")
POINTS = (2,)
IMAGE = (1, 28, 28)
BATCH = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def make_gan(tricks: dict[str, Any] | None = None, shape: tuple[int, ...] = POINTS, **delta: Any) -> GAN:
    """A small GAN: an MLP on 2-D points by default, ``architecture=...`` and ``shape=IMAGE`` for images."""
    base = {"architecture": {"name": "mlp", "hidden": 32, "layers": 2}, "z_dim": 8, "batch_size": BATCH,
            "steps": 20, "tricks": tricks or {}}
    settings = merge(SETTINGS_DEFAULTS, {**base, **delta})
    return GAN(settings, shape, "points" if len(shape) == 1 else "image", 0, CPU)


def dcgan(tricks: dict[str, Any] | None = None, **delta: Any) -> GAN:
    return make_gan(tricks, IMAGE, **{"architecture": {"name": "dcgan", "width": 8}, "batch_size": 8, **delta})


def data_source(shape: tuple[int, ...], batch: int, n: int = 256, seed: int = 0) -> Callable[[], torch.Tensor]:
    """Random batches from a fixed set of samples: points on a ring of 8 modes, or images in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    if len(shape) == 1:
        angle = torch.randint(0, 8, (n,), generator=gen) * (2 * math.pi / 8)
        data = torch.stack([angle.cos(), angle.sin()], 1) * 2 + 0.05 * torch.randn(n, 2, generator=gen)
    else:
        data = torch.rand(n, *shape, generator=gen) * 2 - 1
    return lambda: data[torch.randint(0, n, (batch,))]


def the(gan: GAN, cls: type[Trick]) -> Trick:
    return next(t for t in gan.tricks if isinstance(t, cls))


def critic_pass(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, conditioning=None) -> CriticPass:
    """What a penalty hook gets in D's step: the critic, the batches and its logits on them."""
    return CriticPass(critic, real, fake, critic(real), critic(fake), conditioning)


def flat_params(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def state_through_disk(state: dict[str, Any]) -> dict[str, Any]:
    """Save and reload as the checkpoints do: plain tensors and containers only (weights_only=True)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


# ---------------------------------------------------------------------------------------------------- unit tests
def test_label_smoothing_moves_the_real_target_only():
    smooth = make_gan({"label_smoothing": {"real_target": 0.9}}, loss="minimax")
    plain = make_gan(loss="minimax")
    assert smooth.loss.real_target == 0.9 and plain.loss.real_target == 1.0

    def grads(gan: GAN, real_logit: float) -> tuple[float, float]:
        real = torch.full((4,), real_logit, requires_grad=True)
        fake = torch.zeros(4, requires_grad=True)
        return tuple(float(g.sum()) for g in torch.autograd.grad(gan.loss.d_loss(real, fake), (real, fake)))

    at_09 = math.log(0.9 / 0.1)  # the logit of 0.9
    assert grads(smooth, at_09)[0] == pytest.approx(0.0, abs=1e-6)  # D's optimum on reals is now 0.9
    assert grads(plain, at_09)[0] < -0.05  # without smoothing D still pushes reals towards 1
    assert grads(smooth, at_09)[1] == pytest.approx(grads(plain, at_09)[1])  # the fake target stays 0


def test_instance_noise_sigma_anneals_to_zero():
    gan = make_gan({"instance_noise": {"sigma": 0.2, "anneal_steps": 100}})
    noise = the(gan, InstanceNoise)
    assert [noise.sigma_at(s) for s in (0, 50, 100, 200)] == pytest.approx([0.2, 0.1, 0.0, 0.0])
    x = torch.ones(8192, 2)
    assert (noise.critic_inputs(x, gan.context) - 1).std().item() == pytest.approx(0.2, rel=0.05)
    gan.step = 100
    assert noise.critic_inputs(x, gan.context) is x


def inputs_seen_by(D: nn.Module) -> list[torch.Tensor]:
    """Every input D receives from now on (a forward pre-hook)."""
    seen: list[torch.Tensor] = []
    D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("conditional", ["none", "concat"])
def test_instance_noise_reaches_every_d_input_but_not_the_labels(conditional):
    """The same annealed noise in D's step and in G's step (G is trained against D on the distribution D was trained
    on); with a conditional GAN the one-hot label features stay exact."""
    classes = 8 if conditional == "concat" else 0
    n, sigma = 4096, 0.5
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "batch_size": n,
                                         "conditional": conditional,
                                         "tricks": {"instance_noise": {"sigma": sigma, "anneal_steps": 10**6}}})
    gan = GAN(settings, POINTS, "points", classes, CPU)
    seen = inputs_seen_by(gan.D)
    labels = torch.arange(n) % 8
    real = gan.real_batch(torch.zeros(n, 2), labels)
    gan.d_step(real)
    gan.g_step(gan.real_batch(torch.zeros(n, 2, requires_grad=True), labels))  # a clean fake batch
    d_real, g_fake = seen[0], seen[-1]
    assert len(seen) == 3  # D step: real, fake; G step: fake
    for x in (d_real, g_fake):
        assert x[:, :2].std().item() == pytest.approx(sigma, rel=0.05)
        assert torch.equal(x[:, 2:], real[:, 2:])  # the label part (empty when unconditional) is untouched


def test_weight_clip_bounds_every_discriminator():
    gan = make_gan({"weight_clip": {"clip": 0.01}, "multi_d": {"count": 2}}, loss="wgan")
    gan.train_step(data_source(POINTS, BATCH))
    for D in gan.Ds:
        assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 + 1e-7


def test_spectral_norm_makes_each_layer_1_lipschitz():
    gan = make_gan({"spectral_norm": {}})
    layers = [m for m in gan.D.modules() if isinstance(m, nn.Linear)]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m) for m in layers)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in gan.G.modules())
    x = torch.randn(BATCH, 2)
    for _ in range(30):  # power iterations run in training-mode forward passes
        gan.D(x)
    for m in layers:
        assert torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() == pytest.approx(1.0, rel=0.02)
    with_g = make_gan({"spectral_norm": {"generator": True}})
    assert any(torch.nn.utils.parametrize.is_parametrized(m) for m in with_g.G.modules())


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    gan = make_gan({"gradient_penalty": {"weight": 2.0, "center": 1.0}}, loss="hinge")
    critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[3.0, 4.0]]))  # ∇D = w everywhere, ‖w‖ = 5
    real, fake = torch.randn(BATCH, 2), torch.randn(BATCH, 2)
    gp = the(gan, GradientPenalty)
    assert gp.d_penalty(critic_pass(critic, real, fake), gan.context).item() == pytest.approx(2.0 * (5 - 1) ** 2)
    assert gan.d_objective(critic, real, fake)[1].item() == pytest.approx(32.0)  # reported as the penalty
    zero_centred = make_gan({"gradient_penalty": {"weight": 2.0, "center": 0.0}}, loss="hinge")
    penalty = the(zero_centred, GradientPenalty).d_penalty(critic_pass(critic, real, fake), zero_centred.context)
    assert penalty.item() == pytest.approx(50.0)


def test_gradient_penalty_of_a_conditional_critic_pairs_classes_and_ignores_label_inputs():
    """D reads [x, onehot(y)]: the interpolates pair a real and a fake of the same class (their label part stays
    one exact one-hot), and the norm is over ∇_x only, so a linear critic with ‖w_x‖ = 5 gets (5 − 1)² whatever its
    label weights."""
    k, n = 8, 64
    critic = nn.Sequential(nn.Linear(2 + k, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[3.0, 4.0] + [7.0] * k]))
    seen = inputs_seen_by(critic)
    gans = []
    for tricks, loss, expected in [({"gradient_penalty": {"weight": 1.0}}, "hinge", 16.0), ({}, "wgan-gp", 160.0)]:
        settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "batch_size": n,
                                             "conditional": "concat", "loss": loss, "tricks": tricks})
        gan = GAN(settings, POINTS, "points", k, CPU)
        gans.append(gan)
        real = gan.real_batch(torch.randn(n, 2), torch.randint(0, k, (n,)))
        fake = gan.real_batch(torch.randn(n, 2), torch.arange(n) % k)  # every class among the fakes
        seen.clear()
        assert gan.d_objective(critic, real, fake)[1].item() == pytest.approx(expected, rel=1e-5)
        mixed = next(x for x in seen if x.shape[0] == n and not torch.equal(x, real) and not torch.equal(x, fake))
        assert torch.equal(mixed[:, 2:], real[:, 2:])  # each interpolate carries its real sample's label
        assert not torch.allclose(mixed[:, :2], real[:, :2])
    # a class without a fake in the batch has no partner: its samples are left out of the penalty
    lonely = gan.real_batch(torch.randn(n, 2), torch.full((n,), 7))
    others = gan.real_batch(torch.randn(n, 2), torch.arange(n) % 7)
    penalty = the(gans[0], GradientPenalty).d_penalty(critic_pass(critic, lonely, others, gans[0].conditioning),
                                                       gans[0].context)
    assert penalty.item() == 0.0


def test_r1_of_a_linear_critic_is_the_closed_form():
    """D(x) = w·x + b has ∇ₓD = w, so R1 = (γ/2)‖w‖² whatever the real batch, and its gradient in w is γ·w: the
    penalty reaches D's update. For a conditional D the norm is over the data inputs only."""
    critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[3.0, 4.0]]))  # ‖w‖² = 25
    real, fake = torch.randn(BATCH, 2), torch.randn(BATCH, 2)
    gan, plain = make_gan({"r1": {"gamma": 2.0}}, loss="hinge"), make_gan(loss="hinge")
    total, penalty, _, _ = gan.d_objective(critic, real, fake)
    assert penalty.item() == pytest.approx(0.5 * 2.0 * 25.0)
    (with_r1,) = torch.autograd.grad(total, critic[0].weight)
    (without,) = torch.autograd.grad(plain.d_objective(critic, real, fake)[0], critic[0].weight)
    assert torch.allclose(with_r1 - without, 2.0 * critic[0].weight.detach())
    k = 8
    conditional = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "batch_size": BATCH,
                                            "conditional": "concat", "loss": "hinge", "tricks": {"r1": {}}})
    cgan = GAN(conditional, POINTS, "points", k, CPU)
    labelled = nn.Sequential(nn.Linear(2 + k, 1), nn.Flatten(0))
    with torch.no_grad():
        labelled[0].weight.copy_(torch.tensor([[3.0, 4.0] + [7.0] * k]))
    labels = torch.arange(BATCH) % k
    penalty = cgan.d_objective(labelled, cgan.real_batch(real, labels), cgan.real_batch(fake, labels))[1]
    assert penalty.item() == pytest.approx(0.5 * 10.0 * 25.0)  # the default γ = 10; label weights left out


def test_r1_costs_no_extra_forward_pass_of_d():
    """With R1 D reads exactly what it reads without it: one pass over the real batch per D step (which then
    requires grad), one over the fakes, one in G's step. A gradient penalty on interpolates needs one more."""
    counts = {}
    for name, tricks in [("plain", {}), ("r1", {"r1": {}}), ("gp", {"gradient_penalty": {"center": 0.0}})]:
        torch.manual_seed(0)
        gan = make_gan(tricks, loss="hinge", d_steps=3)
        seen = []
        gan.D.register_forward_hook(lambda module, args, out, seen=seen: seen.append(args[0].requires_grad))
        gan.train_step(data_source(POINTS, BATCH))
        counts[name] = seen
    assert len(counts["r1"]) == len(counts["plain"]) == 3 * 2 + 1
    assert len(counts["gp"]) == 3 * 3 + 1
    assert counts["r1"][0:6:2] == [True] * 3  # the real batch of each D step, the only one R1 differentiates
    assert not any(counts["r1"][1:6:2]) and not any(counts["plain"][:6])


def test_minibatch_discrimination_makes_d_see_the_batch():
    gan = make_gan({"minibatch_discrimination": {"kernels": 8, "kernel_dim": 3}})
    assert sum(isinstance(m, MinibatchDiscrimination) for m in gan.D.modules()) == 1
    assert head(gan.D)[1].in_features == 32 + 8
    gan.D.eval()
    x = torch.randn(BATCH, 2)
    other = torch.cat([x[:1], torch.randn(BATCH - 1, 2)])
    assert not torch.allclose(gan.D(x)[0], gan.D(other)[0])  # sample 0's score depends on its batch-mates
    plain = make_gan().D.eval()
    assert torch.allclose(plain(x)[0], plain(other)[0])
    layer = MinibatchDiscrimination(5, kernels=4, kernel_dim=3)
    collapsed = layer.closeness(torch.randn(1, 5).repeat(6, 1))
    assert torch.allclose(collapsed, torch.full((6, 4), 5.0))  # N − 1 identical neighbours: maximal closeness
    assert (layer.closeness(torch.randn(6, 5) * 3) < 5.0).all()


def test_minibatch_stddev_appends_the_batch_std():
    layer = MinibatchStdDev()
    f = torch.randn(8, 5)
    expected = f.std(dim=0, unbiased=False).mean()
    out = layer(f)
    assert out.shape == (8, 6) and torch.equal(out[:, :5], f)
    assert torch.allclose(out[:, 5], expected.expand(8), atol=1e-6)
    assert layer.statistic(torch.randn(1, 5).repeat(8, 1)).max().item() < 1e-3  # a collapsed batch: ≈ 0
    grouped = MinibatchStdDev(group_size=4).statistic(f)  # groups of 4: samples i and i + 2k, as in StyleGAN
    assert grouped[0].item() == pytest.approx(f[[0, 2, 4, 6]].std(0, unbiased=False).mean().item(), abs=1e-6)
    assert grouped[0] == grouped[2] and grouped[1] == grouped[3]
    with pytest.raises(ValueError, match="multiple"):
        MinibatchStdDev(group_size=3).statistic(f)
    gan = dcgan({"minibatch_stddev": {}})
    plain = dcgan()
    assert head(gan.D)[1].in_features == head(plain.D)[1].in_features + 1
    assert gan.D(torch.randn(8, *IMAGE)).shape == (8,)


def test_experience_replay_returns_stored_fakes():
    gan = make_gan({"experience_replay": {"size": 64, "fraction": 1.0}})
    replay = the(gan, ExperienceReplay)
    real, first, second = torch.randn(BATCH, 2), torch.randn(BATCH, 2), torch.randn(BATCH, 2)
    r, f = replay.d_inputs(real, first, gan.context)
    assert r is real and torch.equal(f, first)  # empty buffer: nothing to replay yet
    _, f = replay.d_inputs(real, second, gan.context)
    stored = {tuple(row.tolist()) for row in first}
    assert all(tuple(row.tolist()) in stored for row in f)  # every fake D sees now is an old one
    half = make_gan({"experience_replay": {"size": 64, "fraction": 0.5}})
    replay_half = the(half, ExperienceReplay)
    replay_half.d_inputs(real, first, half.context)
    _, f = replay_half.d_inputs(real, second, half.context)
    assert torch.equal(f[BATCH // 2:], second[BATCH // 2:])
    assert all(tuple(row.tolist()) in stored for row in f[: BATCH // 2])


def test_experience_replay_keeps_old_generators_and_logs_their_age():
    """Random replacement (Shrivastava et al.), not a ring: with 64 slots and 8 replaced per step a ring would hold
    only the last 8 steps' fakes; here older ones survive. The mean age of the replayed fakes is a logged statistic,
    and the buffer with its ages survives a checkpoint."""
    gan = make_gan({"experience_replay": {"size": 64, "fraction": 0.5}})
    replay = the(gan, ExperienceReplay)
    real = torch.randn(BATCH, 2)
    for step in range(40):  # each batch is filled with its step number, so a sample shows when it was made
        gan.step = step
        replay.d_inputs(real, torch.full((BATCH, 2), float(step)), gan.context)
    buffer = replay.buffer
    assert buffer.count == 64 and torch.equal(buffer.data[:, 0], buffer.made)
    ages = 39 - buffer.made
    assert ages.max().item() > 8 and buffer.made.unique().numel() > 8
    gan.step = 40
    _, f = replay.d_inputs(real, torch.full((BATCH, 2), 40.0), gan.context)
    replayed = f[: BATCH // 2, 0]
    assert (replayed < 40).all()
    assert replay.stats(gan.context)["replay_age"].item() == pytest.approx((40 - replayed).mean().item())
    resumed = make_gan({"experience_replay": {"size": 64, "fraction": 0.5}})
    the(resumed, ExperienceReplay).load_state_dict(state_through_disk(replay.state_dict()))
    loaded = the(resumed, ExperienceReplay).buffer
    assert torch.equal(loaded.data, buffer.data) and torch.equal(loaded.made, buffer.made) and loaded.count == 64
    # in a training step the statistic is one of the step's statistics (0 for a GAN without replay)
    trained = make_gan({"experience_replay": {"size": 64, "fraction": 0.5}})
    next_real = data_source(POINTS, BATCH)
    ages = [trained.train_step(next_real)["replay_age"].item() for _ in range(12)]
    assert ages[0] == 0.0 and ages[-1] > 0.0
    assert "replay_age" in STAT_NAMES and make_gan().train_step(next_real)["replay_age"].item() == 0.0


def test_d_dropout_follows_every_activation():
    gan = make_gan({"d_dropout": {"p": 0.5}})
    assert sum(isinstance(m, nn.Dropout) for m in gan.D.modules()) == 2  # two hidden layers
    x = torch.randn(BATCH, 2)
    gan.D.train()
    assert not torch.equal(gan.D(x), gan.D(x))
    gan.D.eval()
    assert torch.equal(gan.D(x), gan.D(x))
    assert not any(isinstance(m, nn.Dropout) for m in gan.G.modules())
    images = dcgan({"d_dropout": {}})
    assert sum(isinstance(m, nn.Dropout) for m in images.D.modules()) == \
        sum(isinstance(m, nn.LeakyReLU) for m in images.D.modules())


def test_unrolling_leaves_d_as_it_was():
    gan = make_gan({"unrolled": {"steps": 3, "second_order": False}})
    next_real = data_source(POINTS, BATCH)
    gan.train_step(next_real)  # gives D's optimizer some state
    weights = copy.deepcopy(gan.D.state_dict())
    opt_state = copy.deepcopy(gan.opt_d.state_dict())
    torch.manual_seed(7)
    critic = gan.g_critic(gan.D)
    assert critic is not gan.D
    for k, v in gan.D.state_dict().items():
        assert torch.equal(v, weights[k]), k
    after = gan.opt_d.state_dict()
    for idx, slot in opt_state["state"].items():
        for name, value in slot.items():
            assert torch.equal(after["state"][idx][name], value), name
    assert not torch.equal(flat_params(critic), flat_params(gan.D))
    # the copy is D advanced by exactly 3 ordinary updates, continuing D's optimizer state
    torch.manual_seed(7)
    manual = copy.deepcopy(gan.D)
    manual_opt = gan.new_d_optimizer(manual)
    manual_opt.load_state_dict(copy.deepcopy(gan.opt_d.state_dict()))
    for _ in range(3):
        real = next_real()
        with torch.no_grad():
            fake = gan.G(gan.sample_z(BATCH))
        gan.update_d(manual, manual_opt, real, fake)
    assert torch.allclose(flat_params(critic), flat_params(manual))
    # G's gradient flows through the unrolled copy
    gan.opt_g.zero_grad()
    gan.loss.g_loss(None, critic(gan.G(gan.sample_z(BATCH)))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.G.parameters())


def unrolled_critics(gan: GAN, seed: int = 7) -> dict[bool, nn.Module]:
    """The unrolled critic of ``gan.D`` in either form, from the same batches."""
    trick, out = the(gan, Unrolled), {}
    for second in (False, True):
        trick.options["second_order"] = second
        torch.manual_seed(seed)
        out[second] = gan.g_critic(gan.D)
    return out


def test_second_order_unrolling_advances_d_like_the_optimizer_and_leaves_it_as_it_was():
    """The differentiable updates give the same unrolled D as k ordinary optimizer steps (Adam, with D's state),
    and leave D's weights, buffers and optimizer state as they were."""
    for optimizer in ({"name": "adam"}, {"name": "sgd", "momentum": 0.9, "lr_d": 0.05}):
        gan = make_gan({"unrolled": {"steps": 3}}, optimizer=optimizer)
        next_real = data_source(POINTS, BATCH)
        for _ in range(2):
            gan.train_step(next_real)
        gan.next_real = next_real
        weights = copy.deepcopy(gan.D.state_dict())
        opt_state = copy.deepcopy(gan.opt_d.state_dict())
        critics = unrolled_critics(gan)
        unrolled = torch.cat([p.detach().flatten() for p in critics[True].params.values()])
        assert torch.allclose(unrolled, flat_params(critics[False]), atol=1e-6)
        assert not torch.allclose(unrolled, flat_params(gan.D))
        x = torch.randn(BATCH, 2)
        assert torch.allclose(critics[True](x), critics[False](x), atol=1e-5)
        for k, v in gan.D.state_dict().items():
            assert torch.equal(v, weights[k]), k
        for idx, slot in opt_state["state"].items():
            for name, value in slot.items():
                assert torch.equal(gan.opt_d.state_dict()["state"][idx][name], value), name


def g_loss_through(gan: GAN, seed: int = 11) -> torch.Tensor:
    """G's loss against its unrolled critic, with every random draw (batches, z) fixed by ``seed``."""
    torch.manual_seed(seed)
    critic = gan.g_critic(gan.D)
    return gan.loss.g_loss(None, critic(gan.generate(gan.sample_z(BATCH))))


def test_second_order_unrolling_gives_gs_exact_gradient():
    """Metz et al.'s gradient dL(θ_G, θ_D^k(θ_G))/dθ_G: it matches central finite differences of G's loss (float64),
    and it differs from the first-order gradient, which ignores how the k updates depend on G."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        gan = make_gan({"unrolled": {"steps": 3}})
        next_real = data_source(POINTS, BATCH)
        for _ in range(3):
            gan.train_step(next_real)  # D's Adam state is no longer empty
        gan.next_real = next_real
        trick, weight = the(gan, Unrolled), next(gan.G.parameters())
        grads = {}
        for second in (True, False):
            trick.options["second_order"] = second
            (grads[second],) = torch.autograd.grad(g_loss_through(gan), weight)
        trick.options["second_order"] = True
        h, checked = 1e-6, 0
        for index in [(0, 0), (3, 1), (7, 5)]:
            original = weight.detach()[index].item()
            losses = []
            for value in (original + h, original - h):
                with torch.no_grad():
                    weight[index] = value
                losses.append(g_loss_through(gan).item())
            with torch.no_grad():
                weight[index] = original
            plus, minus = losses
            assert grads[True][index].item() == pytest.approx((plus - minus) / (2 * h), rel=1e-5, abs=1e-9)
            checked += abs(grads[True][index].item()) > 1e-6
        assert checked >= 2  # not a trivially zero entry
        difference = (grads[True] - grads[False]).norm() / grads[True].norm()
        assert difference.item() > 0.01, difference
    finally:
        torch.set_default_dtype(default)


def test_pacgan_packs_m_samples_per_d_input():
    gan = make_gan({"pacgan": {"packing": 4}})
    assert first_layer(gan.D)[1].in_features == 4 * 2
    assert gan.D(torch.randn(BATCH, 2)).shape == (BATCH // 4,)
    assert gan.batch_size == 4 * BATCH  # batch_size counts D's inputs, packs here (Lin et al.'s minibatches)
    images = dcgan({"pacgan": {"packing": 2}})
    assert first_layer(images.D)[1].in_channels == 2 * IMAGE[0]
    assert images.D(torch.randn(8, *IMAGE)).shape == (4,)
    packs = Packed(nn.Identity(), 2)(torch.arange(12.0).view(6, 2))  # consecutive samples side by side
    assert packs.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(ValueError, match="multiple"):
        gan.D(torch.randn(6, 2))


def test_pacgan_slots_start_independent():
    """Each slot of the widened first layer has its own weights (a permutation of the original layer's, so the same
    initial distribution), scaled 1/√m; with one set repeated for every slot, D would see only the pack's sum."""
    gan = make_gan({"pacgan": {"packing": 4}})
    weight = first_layer(gan.D)[1].weight.detach()
    slots = weight.view(weight.shape[0], 4, 2).unbind(1)
    for slot in slots[1:]:
        assert torch.equal(slot.flatten().sort().values, slots[0].flatten().sort().values)
        assert not torch.equal(slot, slots[0])
    plain = first_layer(make_gan().D)[1].weight.detach()
    assert (weight.std() * 2).item() == pytest.approx(plain.std().item(), rel=0.3)  # 1/√4 of the usual scale
    x = torch.randn(BATCH, 2)
    swapped = x.view(BATCH // 4, 4, 2).flip(1).reshape(BATCH, 2)  # the same packs, slots in another order
    assert not torch.allclose(gan.D(x), gan.D(swapped))


RING = torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1)


def steps_to_separate(tricks: dict[str, Any], fake: Callable[[int], torch.Tensor], gap: float,
                      max_steps: int) -> int:
    """D steps (ring-8 data against ``fake``, G left out) until D(x) − D(G(z)), averaged over 10 steps, reaches
    ``gap``; ``max_steps`` + 1 if it never does."""
    torch.manual_seed(0)
    gan = make_gan(tricks, architecture={"name": "mlp", "hidden": 128, "layers": 2}, batch_size=64,
                   optimizer={"lr_d": 1e-3})
    recent: list[float] = []
    for step in range(1, max_steps + 1):
        n = gan.batch_size
        real = RING[torch.randint(0, 8, (n,))] + 0.01 * torch.randn(n, 2)
        stats = gan.update_d(gan.D, gan.opt_d, real, fake(n))
        recent = [*recent[-9:], (stats["d_real"] - stats["d_fake"]).item()]
        if len(recent) == 10 and sum(recent) / 10 >= gap:
            return step
    return max_steps + 1


@pytest.mark.parametrize("packing", [2, 4])
def test_packed_d_separates_a_collapsed_generator_as_fast_as_an_unpacked_one(packing):
    def collapsed(n: int) -> torch.Tensor:  # every fake on one mode
        return RING[0] + 0.01 * torch.randn(n, 2)

    unpacked = steps_to_separate({}, collapsed, 0.5, 300)
    assert unpacked <= 100
    assert steps_to_separate({"pacgan": {"packing": packing}}, collapsed, 0.5, 300) <= 1.5 * unpacked


@pytest.mark.parametrize("packing", [2, 4])
def test_packed_d_tells_the_ring_from_a_structureless_cloud(packing):
    """A cloud with the ring's mean and covariance is what an untrained G produces on ring-8. An unpacked D tells
    them apart in about 100 steps; a packed D must learn it too (a D that sees only pack sums, which look alike for
    both by the central limit theorem, never does: PacGAN then stalls at D(x) ≈ D(G(z)) ≈ 0.5)."""
    def cloud(n: int) -> torch.Tensor:
        return torch.randn(n, 2) * math.sqrt(0.5)

    unpacked = steps_to_separate({}, cloud, 0.15, 600)
    packed = steps_to_separate({"pacgan": {"packing": packing}}, cloud, 0.15, 600)
    assert unpacked <= 150 and packed <= 4 * unpacked, (unpacked, packed)


def test_multi_d_trains_n_discriminators_and_g_uses_their_mean():
    gan = make_gan({"multi_d": {"count": 3}})
    assert len(gan.Ds) == len(gan.opt_ds) == 3
    assert len({id(p) for D in gan.Ds for p in D.parameters()}) == sum(len(list(D.parameters())) for D in gan.Ds)
    assert not torch.equal(flat_params(gan.Ds[0]), flat_params(gan.Ds[1]))  # independently initialised
    for D, opt in zip(gan.Ds, gan.opt_ds):
        assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in D.parameters()}
    before = [flat_params(D) for D in gan.Ds]
    gan.d_step(data_source(POINTS, BATCH)())
    assert all(not torch.equal(b, flat_params(D)) for b, D in zip(before, gan.Ds))
    torch.manual_seed(3)
    with torch.no_grad():
        fake = gan.G(gan.sample_z(BATCH))
        expected = torch.stack([gan.loss.g_loss(None, D(fake)) for D in gan.Ds]).mean()
    torch.manual_seed(3)
    assert gan.g_step().item() == pytest.approx(expected.item(), rel=1e-5)


def test_ema_averages_g_and_is_what_gets_sampled():
    gan = make_gan({"ema": {"decay": 0.9}})
    assert gan.sampler() is gan.G_eval and gan.G_eval is not gan.G
    average = flat_params(gan.G_eval)
    gan.train_step(data_source(POINTS, BATCH))
    assert torch.allclose(flat_params(gan.G_eval), 0.9 * average + 0.1 * flat_params(gan.G), atol=1e-6)
    assert not torch.allclose(flat_params(gan.G_eval), flat_params(gan.G))
    late = make_gan({"ema": {"decay": 0.9, "start": 5}})
    late.train_step(data_source(POINTS, BATCH))
    assert torch.equal(flat_params(late.G_eval), flat_params(late.G))  # before `start` it tracks G exactly
    assert make_gan().sampler() is not None and make_gan().G_eval is None


def test_grad_clip_bounds_the_gradient_norm():
    gan = make_gan({"grad_clip": {"max_norm_d": 0.5, "max_norm_g": None}})
    for p in [*gan.D.parameters(), *gan.G.parameters()]:
        p.grad = torch.full_like(p, 10.0)
    clip = gan.tricks[0]
    clip.before_d_step(gan.D, gan.context)
    clip.before_g_step(gan.context)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in gan.D.parameters()]))
    assert norm.item() == pytest.approx(0.5, rel=1e-4)
    assert all(torch.equal(p.grad, torch.full_like(p, 10.0)) for p in gan.G.parameters())  # G: not clipped


def test_lr_schedule_factors():
    assert lr_factor("constant", 0.0, 10)(5) == 1.0
    assert [lr_factor("linear", 0.0, 10)(t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert lr_factor("linear", 0.1, 10)(10) == pytest.approx(0.1)
    assert [lr_factor("cosine", 0.0, 10)(t) for t in (0, 5, 10)] == pytest.approx([1.0, 0.5, 0.0])


def test_lr_schedule_drives_every_optimizer_and_resumes():
    tricks = {"lr_schedule": {"schedule": "linear", "steps": 10}, "multi_d": {"count": 2}}
    gan = make_gan(tricks, optimizer={"lr_g": 1e-3, "lr_d": 2e-3})
    next_real = data_source(POINTS, BATCH)
    for _ in range(5):
        gan.train_step(next_real)
    assert gan.opt_g.param_groups[0]["lr"] == pytest.approx(0.5e-3)
    assert [opt.param_groups[0]["lr"] for opt in gan.opt_ds] == pytest.approx([1e-3, 1e-3])
    resumed = make_gan(tricks, optimizer={"lr_g": 1e-3, "lr_d": 2e-3})
    resumed.load_state_dict(state_through_disk(gan.state_dict()))
    for g in (gan, resumed):
        g.train_step(next_real)
    assert resumed.opt_g.param_groups[0]["lr"] == gan.opt_g.param_groups[0]["lr"] == pytest.approx(0.4e-3)


def test_batchnorm_is_an_architecture_option_not_a_trick():
    assert "batchnorm" not in TRICKS
    with_bn, without = dcgan(), dcgan(architecture={"name": "dcgan", "width": 8, "batchnorm_g": False,
                                                    "batchnorm_d": False})
    assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.D.modules())
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in [*without.D.modules(),
                                                                              *without.G.modules()])


# ---------------------------------------------------------------------------------------------------- training
TRAINING: dict[str, dict[str, Any]] = {
    "spectral_norm": {"tricks": {"spectral_norm": {"generator": True}}},
    "gradient_penalty": {"tricks": {"gradient_penalty": {}}, "loss": "hinge"},
    "label_smoothing": {"tricks": {"label_smoothing": {}}},
    "instance_noise": {"tricks": {"instance_noise": {"anneal_steps": 10}}},
    "minibatch_discrimination": {"tricks": {"minibatch_discrimination": {}}},
    "minibatch_stddev": {"tricks": {"minibatch_stddev": {"group_size": 4}}},
    "experience_replay": {"tricks": {"experience_replay": {"size": 64}}},
    "d_dropout": {"tricks": {"d_dropout": {}}},
    "unrolled": {"tricks": {"unrolled": {"steps": 3}}},
    "unrolled_first_order": {"tricks": {"unrolled": {"steps": 3, "second_order": False}}},
    "unrolled_images": {"image": True, "tricks": {"unrolled": {"steps": 2}}},  # BatchNorm buffers in D
    "pacgan": {"tricks": {"pacgan": {"packing": 2}}},
    "multi_d": {"tricks": {"multi_d": {"count": 3}}},
    "ema": {"tricks": {"ema": {"decay": 0.9}}},
    "grad_clip": {"tricks": {"grad_clip": {"max_norm_d": 0.1, "max_norm_g": 0.1}}},
    "lr_schedule": {"tricks": {"lr_schedule": {"schedule": "cosine"}}},
    "weight_clip": {"tricks": {"weight_clip": {}}, "loss": "wgan", "optimizer": {"name": "rmsprop"}},
    "r1": {"tricks": {"r1": {"gamma": 1.0}}, "loss": "rasgan"},
    "r1_unrolled": {"tricks": {"r1": {}, "unrolled": {"steps": 2}}, "loss": "ralsgan"},
    "combo_regularisers": {"loss": "hinge", "d_steps": 2, "tricks": {
        "spectral_norm": {}, "gradient_penalty": {"center": 0.0}, "minibatch_stddev": {}, "ema": {},
        "experience_replay": {"size": 64}, "lr_schedule": {}, "grad_clip": {}, "instance_noise": {}}},
    "combo_architecture": {"tricks": {
        "pacgan": {"packing": 4}, "minibatch_discrimination": {"kernels": 8}, "d_dropout": {}, "multi_d": {},
        "unrolled": {"steps": 2}, "label_smoothing": {}, "spectral_norm": {}}},
    "combo_images": {"image": True, "tricks": {
        "pacgan": {}, "minibatch_stddev": {}, "spectral_norm": {}, "ema": {}, "d_dropout": {}, "multi_d": {},
        "gradient_penalty": {}, "unrolled": {"steps": 1}}},
}


def build(case: dict[str, Any]) -> tuple[GAN, Callable[[], torch.Tensor]]:
    delta = {k: v for k, v in case.items() if k != "image"}
    if case.get("image"):
        return dcgan(**delta), data_source(IMAGE, 8)
    return make_gan(**delta), data_source(POINTS, BATCH)


def test_every_trick_has_a_training_case():
    assert set(TRICKS.names()) <= set(TRAINING)


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_short_training_is_finite_and_moves_weights(name):
    torch.manual_seed(0)
    gan, next_real = build(TRAINING[name])
    nets = {"G": gan.G, **{f"D{i}": D for i, D in enumerate(gan.Ds)}}
    if gan.G_eval is not None:
        nets["G_eval"] = gan.G_eval
    before = {k: flat_params(net) for k, net in nets.items()}
    for _ in range(5 if TRAINING[name].get("image") else 20):
        stats = gan.train_step(next_real)
        assert set(stats) == set(STAT_NAMES)
        assert all(v.dim() == 0 and torch.isfinite(v) for v in stats.values()), stats
    for k, net in nets.items():
        after = flat_params(net)
        assert torch.isfinite(after).all(), k
        assert not torch.equal(after, before[k]), f"{k} did not move"


@pytest.mark.parametrize("name", ["combo_regularisers", "combo_architecture"])
def test_resume_continues_exactly(name):
    torch.manual_seed(0)
    gan, next_real = build(TRAINING[name])
    for _ in range(3):
        gan.train_step(next_real)
    state, rng = state_through_disk(gan.state_dict()), torch.get_rng_state()
    expected = [gan.train_step(next_real) for _ in range(3)]
    resumed, _ = build(TRAINING[name])
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    got = [resumed.train_step(next_real) for _ in range(3)]
    for e, g in zip(expected, got):
        assert all(torch.allclose(e[k], g[k]) for k in STAT_NAMES), (e, g)
    for a, b in zip([gan.G, *gan.Ds, gan.sampler()], [resumed.G, *resumed.Ds, resumed.sampler()]):
        assert torch.allclose(flat_params(a), flat_params(b))


# ---------------------------------------------------------------------------------------------------- config
def config(variant: dict[str, Any]) -> Config:
    return Config({"seeds": [0], "datasets": {"ring8": {}}, "defaults": {}, "variants": [{"name": "v", **variant}]})


@pytest.mark.parametrize("variant, key", [
    ({"tricks": {"weight_clip": {}}}, "variants[0].tricks.weight_clip"),
    ({"loss": "wgan-gp", "tricks": {"gradient_penalty": {}}}, "variants[0].tricks.gradient_penalty"),
    ({"loss": "hinge", "tricks": {"label_smoothing": True}}, "variants[0].tricks.label_smoothing"),
    ({"tricks": {"pacgan": {"packing": 0}}}, "variants[0].tricks.pacgan.packing"),
    ({"loss": "wgan-gp", "batch_size": 64, "tricks": {"pacgan": {"packing": 3}}}, "variants[0].tricks.pacgan.packing"),
    ({"batch_size": 64, "tricks": {"minibatch_stddev": {"group_size": 5}}},
     "variants[0].tricks.minibatch_stddev.group_size"),
    ({"tricks": {"lr_schedule": {"schedule": "step"}}}, "variants[0].tricks.lr_schedule.schedule"),
    ({"tricks": {"ema": {"decay": 1.5}}}, "variants[0].tricks.ema.decay"),
    ({"tricks": {"unrolled": {"k": 3}}}, "variants[0].tricks.unrolled.k"),
    ({"tricks": {"multi_d": {"count": 0}}}, "variants[0].tricks.multi_d.count"),
    ({"tricks": {"grad_clip": {"max_norm_d": None, "max_norm_g": None}}}, "variants[0].tricks.grad_clip"),
    ({"tricks": {"experience_replay": {"fraction": 2}}}, "variants[0].tricks.experience_replay.fraction"),
    ({"tricks": {"d_dropout": {"p": 1.0}}}, "variants[0].tricks.d_dropout.p"),
    ({"tricks": {"unrolled": {"steps": 2.5}}}, "variants[0].tricks.unrolled.steps"),
    ({"tricks": {"unrolled": {"second_order": "yes"}}}, "variants[0].tricks.unrolled.second_order"),
    ({"tricks": {"unrolled": {}, "grad_clip": {}}}, "variants[0].tricks.unrolled.second_order"),
    ({"loss": "wgan", "tricks": {"unrolled": {}, "weight_clip": {}}}, "variants[0].tricks.unrolled.second_order"),
    ({"tricks": {"experience_replay": {"size": 0}}}, "variants[0].tricks.experience_replay.size"),
    ({"tricks": {"gradient_penalty": {"weight": -1.0}}}, "variants[0].tricks.gradient_penalty.weight"),
    ({"tricks": {"minibatch_stddev": {"group_size": -1}}}, "variants[0].tricks.minibatch_stddev.group_size"),
    ({"tricks": {"ema": {"start": -5}}}, "variants[0].tricks.ema.start"),
    ({"tricks": {"lr_schedule": {"final": 2.0}}}, "variants[0].tricks.lr_schedule.final"),
    ({"loss": {"name": "wgan-gp", "gp_weight": -10.0}}, "variants[0].loss.gp_weight"),
])
def test_config_rejects_bad_tricks_naming_the_key(variant, key):
    with pytest.raises(ConfigError) as err:
        config(variant)
    assert str(err.value).startswith(key + ":"), str(err.value)


def test_pacgan_batch_size_counts_packs():
    config({"batch_size": 64, "tricks": {"pacgan": {"packing": 3}}})  # 64 packs of 3 samples: fine
    assert make_gan({"pacgan": {"packing": 3}}, batch_size=10).batch_size == 30


def test_config_accepts_every_trick_at_once():
    tricks = {name: {} for name in TRICKS.names() if name != "weight_clip"}
    tricks["unrolled"] = {"second_order": False}  # the second-order form cannot run grad_clip's hook
    config({"loss": "nonsaturating", "tricks": tricks})
    config({"loss": "wgan", "tricks": {"weight_clip": {"clip": 0.05}, "ema": True}})


def test_every_option_of_every_trick_and_loss_has_a_declared_range():
    """The valid values sit next to the defaults (``ranges``), one mechanism for all: every numeric or textual option
    has one, and every default lies in it."""
    from ganbench.losses import LOSSES

    components = [TRICKS.get(n) for n in TRICKS.names()] + [LOSSES.get(n) for n in LOSSES.names()]
    for cls in components:
        for name, default in cls.defaults.items():
            if isinstance(default, bool):
                continue
            assert name in cls.ranges, f"{cls.__name__}.{name} has no declared range"
            assert cls.ranges[name].accepts(default), f"{cls.__name__}.{name}: default {default!r} out of range"
