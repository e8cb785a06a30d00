"""The style-based generator (``ganbench.models.stylegan``): every Table 1 switch changes the network as specified
(module inspection and shapes at 28/32/64 px, 1 and 3 channels), mixing with k latents reaches the layers as k
distinct w (forward hooks on the style inputs), mixing regularization happens with its probability, truncation,
equalised learning rate, noise inputs, the tricks on its D, and short training runs on Fashion-MNIST that
evaluation's ``load_generator`` reloads.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from ganbench.config import SETTINGS_DEFAULTS, Config, merge
from ganbench.data import load_prepared
from ganbench.errors import ConfigError
from ganbench.metrics.evaluate import load_generator
from ganbench.models import ARCHITECTURES
from ganbench.models.stylegan import (
    AdaIN,
    ConstInput,
    DBlock,
    DenseInput,
    ModulatedConv2d,
    NoiseInput,
    PixelNorm,
    Resample,
    ScaledConv2d,
    ScaledLinear,
    StyleGenerator,
)
from ganbench.train import checkpoint
from ganbench.train.conditioning import LabelledSampler
from ganbench.train.gan import GAN
from ganbench.train.run import train_run
from ganbench.tricks.minibatch_stddev import MinibatchStdDev

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")
Z = 16
TINY = {"ch_g": 8, "ch_d": 8, "w_dim": 16, "mapping_layers": 2}
# Table 1 of Karras et al. 2019 as option deltas, each row over the one before
ROWS: dict[str, dict[str, Any]] = {
    "A": {"mapping_layers": 0, "w_dim": None, "styles": False, "const_input": False, "noise": False, "mixing": 0.0,
          "resample": "nearest"},
    "B": {"resample": "bilinear"},
    "C": {"mapping_layers": 2, "w_dim": 16, "styles": True},
    "D": {"const_input": True},
    "E": {"noise": True},
    "F": {"mixing": 0.9},
}


def row(name: str) -> dict[str, Any]:
    """The cumulative options of Table 1 row ``name`` (tiny widths)."""
    options = {"ch_g": 8, "ch_d": 8}
    for key, delta in ROWS.items():
        options.update(delta)
        if key == name:
            return options
    raise KeyError(name)


def arch(options: dict[str, Any] | None = None, shape=(1, 28, 28), z_dim: int = Z, num_classes: int = 0):
    return ARCHITECTURES.get("stylegan")(shape, "image", z_dim, num_classes, {**TINY, **(options or {})},
                                         "architecture")


def levels(size: int) -> int:
    return {28: 3, 32: 4, 64: 5}[size]  # 7→14→28, 4→…→32, 4→…→64


def of_type(net: torch.nn.Module, cls) -> list[torch.nn.Module]:
    return [m for m in net.modules() if isinstance(m, cls)]


class StyleTap:
    """Forward hooks on the style inputs (the affine layers "A"): the w each layer received, (N, num_ws, w_dim)."""

    def __init__(self, G: StyleGenerator):
        self.seen: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(lambda m, i, o: self.seen.append(i[0].detach()))
                        for m in G.synthesis.style_inputs()]
        assert len(self.handles) == G.num_ws

    def ws(self) -> torch.Tensor:
        out = torch.stack(self.seen, dim=1)
        self.seen.clear()
        return out

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def distinct(ws: torch.Tensor) -> list[int]:
    """Per sample of ``ws`` (N, layers, w_dim): how many different w vectors reached its layers."""
    same = (ws[:, :, None] == ws[:, None, :]).all(-1)  # (N, layers, layers)
    earlier = torch.ones(ws.shape[1], ws.shape[1], dtype=torch.bool).tril(-1)
    return (~(same & earlier).any(-1)).sum(1).tolist()  # layers whose w no earlier layer read


# ---------------------------------------------------------------------------------------------------- shapes
def test_supports_28_32_64_pixels_with_1_or_3_channels_only():
    cls = ARCHITECTURES.get("stylegan")
    for size in (28, 32, 64):
        for c in (1, 3):
            assert cls.supports("image", (c, size, size)) is None
    assert "channels" in cls.supports("image", (2, 32, 32))
    assert "30×30" in cls.supports("image", (3, 30, 30))
    assert "image" in cls.supports("points", (2,))


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("variant", ["A", "F", "modulate", "residual_d"])
@torch.no_grad()
def test_shapes_and_layer_count(size, channels, variant):
    options = {"modulate": {**row("F"), "style_op": "modulate"},
               "residual_d": {**row("F"), "d_residual": True}}.get(variant) or row(variant)
    a = arch(options, (channels, size, size))
    G, D = a.generator(), a.discriminator()
    n = levels(size)
    assert G.num_ws == (1 if variant == "A" else 2 * n)
    for mode in (G.train, G.eval):
        mode()
        x = G(torch.randn(4, Z))
        assert x.shape == (4, channels, size, size) and x.abs().max() <= 1
        assert D(x).shape == (4,)
    convs = [m for m in G.synthesis.modules() if isinstance(m, ScaledConv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 2 * n - 1  # one at the first size (after the input), two at every other
    assert len(of_type(D, DBlock)) == n - 1
    assert len([m for m in of_type(G.synthesis, Resample) if m.up]) == n - 1


# ---------------------------------------------------------------------------------------------------- switches
def test_mapping_network_depth_and_learning_rate_multiplier():
    for depth in (0, 1, 8):
        G = arch({"mapping_layers": depth, "w_dim": None if depth == 0 else 16}).generator()
        assert len(of_type(G.mapping, ScaledLinear)) == depth
    z = torch.randn(5, Z)
    G = arch({"mapping_layers": 0, "w_dim": None}).generator()
    assert torch.allclose(G.mapping(z), z / z.pow(2).mean(1, keepdim=True).sqrt(), atol=1e-5)  # normalised z
    G = arch({"mapping_layers": 8, "w_dim": 64, "mapping_lr_mult": 0.01}).generator()
    first = of_type(G.mapping, ScaledLinear)[0]
    assert first.weight.std().item() == pytest.approx(100, rel=0.05)  # stored ×1/λ
    assert first.scaled_weight().std().item() == pytest.approx(math.sqrt(2 / Z), rel=0.1)  # effective: He
    assert first.bias_gain == pytest.approx(0.01)
    assert G.mapping(z).shape == (5, 64)


def test_style_choices():
    none, adain, modulate = (arch({**row("B" if op is None else "F"), **({"style_op": op} if op else {})},
                                  (3, 32, 32)).generator() for op in (None, "adain", "modulate"))
    # traditional: pixel norm after every layer, no styles, only the input reads w
    assert not of_type(none, AdaIN) and not of_type(none, ModulatedConv2d) and none.synthesis.style_inputs() == []
    assert len(of_type(none.synthesis, PixelNorm)) == 8
    # AdaIN: one per layer, no pixel norm; the output layer is a plain 1×1 convolution
    assert len(of_type(adain, AdaIN)) == adain.num_ws == 8 and not of_type(adain.synthesis, PixelNorm)
    assert not isinstance(adain.synthesis.to_rgb.conv, ModulatedConv2d)
    # modulation/demodulation: every convolution modulated, all demodulated but the output layer
    mods = of_type(modulate, ModulatedConv2d)
    assert len(mods) == modulate.num_ws == 8 and not of_type(modulate, AdaIN)
    assert [m.demodulate for m in mods] == [True] * 7 + [False]
    assert not of_type(modulate.synthesis, PixelNorm)


def test_demodulation_gives_unit_filters_whatever_the_style():
    conv = ModulatedConv2d(6, 5, 3, 4, equalized=True, demodulate=True)
    w = torch.randn(3, 4) * 3
    x = torch.randn(3, 6, 9, 9)
    out = conv(x, w)
    s = conv.affine(w)
    for i in range(3):  # by hand: per-sample weights w·s, each output filter divided by its norm
        weight = conv.scaled_weight() * s[i][None, :, None, None]
        weight = weight / weight.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        assert torch.allclose(out[i], F.conv2d(x[i:i + 1], weight, padding=1)[0], atol=1e-4)


@torch.no_grad()
def test_constant_or_latent_input():
    const = arch(row("D")).generator()
    dense = arch(row("C")).generator()
    assert isinstance(const.synthesis.input, ConstInput) and isinstance(dense.synthesis.input, DenseInput)
    w = torch.randn(2, 16)
    a, b = const.synthesis.input(w)
    assert torch.equal(a, b) and torch.equal(a, torch.ones_like(a))  # ones at init, the same for every w
    a, b = dense.synthesis.input(w)
    assert not torch.allclose(a, b)
    with pytest.raises(ConfigError, match=r"architecture\.const_input"):
        arch({**row("B"), "const_input": True})


@torch.no_grad()
def test_noise_inputs_change_outputs_when_on_and_not_when_off():
    z = torch.randn(3, Z)
    off = arch(row("D")).generator().eval()
    assert not of_type(off, NoiseInput)
    assert torch.equal(off(z), off(z))
    on = arch(row("E")).generator().eval()
    noises = of_type(on, NoiseInput)
    assert len(noises) == on.num_ws  # one per layer
    assert all(torch.equal(n.weight, torch.zeros_like(n.weight)) for n in noises)  # zero-initialised scales
    assert torch.equal(on(z), on(z))
    for n in noises:  # learned per-channel scales: one noise map per layer, scaled per channel
        n.weight.fill_(0.5)
    a, b = on(z), on(z)
    assert not torch.allclose(a, b)
    x = torch.zeros(2, 4, 5, 5)
    layer = NoiseInput(4)
    layer.weight.copy_(torch.tensor([0.0, 1.0, 2.0, 0.0]))
    y = layer(x)
    assert torch.equal(y[:, 0], x[:, 0]) and torch.allclose(y[:, 2], 2 * y[:, 1])


def test_resampling_filters():
    x = torch.randn(2, 3, 7, 7)
    up = {mode: Resample(mode, 7, up=True) for mode in ("nearest", "bilinear")}
    assert torch.allclose(up["bilinear"](x), F.interpolate(x, scale_factor=2, mode="bilinear"), atol=1e-6)
    assert torch.equal(up["nearest"](x), F.interpolate(x, scale_factor=2, mode="nearest"))
    y = torch.randn(2, 3, 14, 14)
    down = {mode: Resample(mode, 14, up=False) for mode in ("nearest", "bilinear")}
    k = torch.tensor([1.0, 2.0, 1.0])
    blur = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)  # StyleGAN1's blur, then 2×2 pooling
    expected = F.avg_pool2d(F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), blur, groups=3), 2)
    assert torch.allclose(down["bilinear"](y), expected, atol=1e-6)
    assert torch.allclose(down["nearest"](y), F.avg_pool2d(y, 2), atol=1e-6)
    # the transpose of bilinear up-sampling (away from the replicated edges): <down(y), x> = <y, up(x)> / 4
    x, y = torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 14, 14)
    x[..., 3, 3], y[..., 6:9, 6:9] = 1.0, torch.randn(3, 3)
    assert torch.allclose((down["bilinear"](y) * x).sum(), (y * up["bilinear"](x)).sum() / 4)
    for name in ("A", "B"):
        a = arch(row(name))
        G, D = a.generator(), a.discriminator()
        ups, downs = [m for m in of_type(G, Resample)], [m for m in of_type(D, Resample)]
        assert [m.up for m in ups] == [True, True] and [m.up for m in downs] == [False, False]  # 7→14→28→14→7
        assert {m.mode for m in ups + downs} == {"nearest" if name == "A" else "bilinear"}
    assert "matrix" not in "".join(G.state_dict()) + "".join(D.state_dict())  # fixed: not saved


def test_residual_discriminator():
    plain, residual = (arch({"d_residual": r}).discriminator() for r in (False, True))
    assert all(b.shortcut is None for b in of_type(plain, DBlock))
    assert all(b.shortcut is not None for b in of_type(residual, DBlock))


def test_equalized_learning_rate_scales_weights_at_run_time():
    conv = ScaledConv2d(64, 32, 3, equalized=True)
    he = math.sqrt(2 / (64 * 9))
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert conv.scaled_weight().std().item() == pytest.approx(he, rel=0.05)
    x = torch.randn(2, 64, 6, 6)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * he, conv.bias, padding=1), atol=1e-5)
    plain = ScaledConv2d(64, 32, 3, equalized=False)
    assert plain.weight.std().item() == pytest.approx(he, rel=0.05) and plain.weight_gain == 1.0
    # the whole networks: every equalised layer stores N(0, 1/λ²) and applies gain/√fan_in
    a = arch({"ch_g": 64, "ch_d": 64, "w_dim": 64}, (3, 32, 32))
    for net in (a.generator(), a.discriminator()):
        for m in net.modules():
            if isinstance(m, (ScaledConv2d, ScaledLinear)) and m.weight.numel() >= 4096:
                lr_mult = m.bias_gain
                assert m.weight.std().item() == pytest.approx(1 / lr_mult, rel=0.1)
                assert m.weight_gain == pytest.approx(lr_mult / math.sqrt(m.weight[0].numel()) * m.gain, rel=1e-6)
    with pytest.raises(ConfigError, match=r"architecture\.w_dim"):
        arch({"mapping_layers": 0, "w_dim": 8})


# --------------------------------------------------------------------------------------------------- mixing, truncation
@pytest.mark.parametrize("style_op", ["adain", "modulate"])
@torch.no_grad()
def test_mixing_k_latents_at_test_time_reaches_the_layers_as_k_distinct_w(style_op):
    G = arch({"style_op": style_op}, (1, 32, 32)).generator().eval()
    tap = StyleTap(G)
    gen = torch.Generator().manual_seed(0)
    for k in (1, 2, 3, 4):
        codes = torch.randn(50, k, Z, generator=gen)
        x = G.generate_mixed(codes, generator=gen)
        assert x.shape == (50, 1, 32, 32)
        seen = tap.ws()
        assert distinct(seen) == [k] * 50
        ws = G.mapping(codes.flatten(0, 1)).view(50, k, -1)
        for i in range(50):  # layers read latents 0, 1, …, k−1 in order, switching at the crossover points
            latent = [next(j for j in range(k) if torch.equal(seen[i, layer], ws[i, j])) for layer in range(8)]
            assert latent == sorted(latent) and sorted(set(latent)) == list(range(k))
    # explicit crossovers: layer i reads latent #{cutoffs <= i}
    ws = torch.randn(2, 3, 16)
    mixed = G.mix(ws, torch.tensor([[2, 5], [1, 7]]))
    expected = [[0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 2]]
    for i in range(2):
        assert all(torch.equal(mixed[i, layer], ws[i, j]) for layer, j in enumerate(expected[i]))
    G(torch.randn(5, Z))  # plain sampling: one w everywhere, never mixed
    assert distinct(tap.ws()) == [1] * 5
    tap.close()
    with pytest.raises(ValueError, match="num_ws = 8"):
        G.generate_mixed(torch.randn(2, 9, Z))


@torch.no_grad()
def test_random_crossovers_are_distinct_sorted_and_cover_every_layer_boundary():
    G = arch().generator()  # 28 px: num_ws 6
    cut = G.random_cutoffs(3000, 3, torch.Generator().manual_seed(1))
    assert cut.shape == (3000, 2) and (cut[:, 0] < cut[:, 1]).all()
    assert set(cut.flatten().tolist()) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, 1.0])
@torch.no_grad()
def test_mixing_regularization_uses_two_latents_with_its_probability(p):
    G = arch({"mixing": p, "ch_g": 2}).generator().train()  # 28 px: num_ws = 6
    tap = StyleTap(G)
    torch.manual_seed(0)
    n = 4000
    z = torch.randn(n, Z)
    G(z)
    seen = tap.ws()
    counts = torch.tensor(distinct(seen))
    assert set(counts.tolist()) <= ({1} if p == 0 else {2} if p == 1 else {1, 2})
    share = (counts == 2).float().mean().item()
    assert abs(share - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9  # binomial: within 4σ
    first = G.mapping(z)
    assert torch.equal(seen[:, 0], first)  # layer 0 always reads the sample's own w
    if p > 0:  # the crossover layer is uniform on [1, num_ws − 1]; after it, the second w to the end
        mixed = counts == 2
        switch = (seen[mixed] != first[mixed][:, None]).any(-1).float().argmax(1)
        assert set(switch.tolist()) == {1, 2, 3, 4, 5}
        after = seen[mixed][torch.arange(int(mixed.sum())), -1]
        assert not torch.isin(after, first).all(-1).any()  # a fresh latent, not another sample's
    G.eval()  # sampling never mixes
    G(z[:200])
    assert distinct(tap.ws()) == [1] * 200
    tap.close()


def test_mixing_partner_keeps_a_conditional_label():
    G = arch(num_classes=10, z_dim=Z + 10).generator()
    torch.manual_seed(0)
    z = torch.randn(6, Z)
    code = torch.cat([z, F.one_hot(torch.arange(6) % 10, 10).float()], 1)
    partner = G.mixing_partner(code)
    assert torch.equal(partner[:, -10:], code[:, -10:]) and not torch.isin(partner[:, :Z], z).any()
    noise = torch.randn(6, Z + 10)  # an unconditional code of the same size: all fresh
    assert not torch.isin(G.mixing_partner(noise), noise).any()


@torch.no_grad()
def test_truncation_psi_pulls_w_to_the_tracked_mean():
    G = arch({**row("F"), "noise": False, "w_dim": 16, "w_avg_beta": 0.9}).generator()
    assert "w_avg" in G.state_dict() and torch.equal(G.w_avg, torch.zeros(16))
    torch.manual_seed(0)
    z = torch.randn(64, Z)
    G.train()(z)  # training tracks the running mean of w
    assert torch.allclose(G.w_avg, 0.1 * G.mapping(z).mean(0), atol=1e-6)
    G.eval()(z)  # evaluation does not
    assert torch.allclose(G.w_avg, 0.1 * G.mapping(z).mean(0), atol=1e-6)
    tap = StyleTap(G)
    G.truncation_psi = 0.0
    x = G(torch.randn(5, Z))
    assert all(torch.equal(w, G.w_avg) for w in tap.ws().flatten(0, 1))
    assert torch.allclose(x, x[:1].expand_as(x), atol=1e-6)  # every z gives the mean image
    G.truncation_psi = 0.5
    z = torch.randn(5, Z)
    G(z)
    assert torch.allclose(tap.ws()[:, 0], G.w_avg + 0.5 * (G.mapping(z) - G.w_avg), atol=1e-6)
    tap.close()
    assert arch({"truncation": 0.7}).generator().truncation_psi == 0.7


def test_invalid_options_name_their_key():
    cases = [({"style_op": "spade"}, "style_op"), ({"resample": "bicubic"}, "resample"),
             ({"mixing": 1.5}, "mixing"), ({**row("A"), "mixing": 0.5}, "mixing"), ({"ch_g": 0}, "ch_g"),
             ({"mapping_layers": -1}, "mapping_layers"), ({"bogus": 1}, "bogus"), ({"styles": "adain"}, "styles")]
    for options, key in cases:
        with pytest.raises(ConfigError, match=rf"architecture\.{key}"):
            arch(options)


def test_table1_rows_as_config_variants():
    variants = [{"name": name, "architecture": {"name": "stylegan", **row(name)}} for name in ROWS]
    raw = {"seeds": [0], "datasets": {"fashion_mnist": {}, "ring8": {}}, "defaults": {"z_dim": Z}, "variants": variants}
    config = Config(raw)
    assert [r.dataset for r in config.runs()] == ["fashion_mnist"] * 6  # 2-D points are not images
    assert config.settings("C")["architecture"]["styles"] is True
    variants[1]["architecture"]["const_input"] = True  # B has no styles
    with pytest.raises(ConfigError, match=r"variants\[1\]\.architecture\.const_input"):
        Config(raw)


# ---------------------------------------------------------------------------------------------------- tricks on D and G
def settings(**delta) -> dict[str, Any]:
    return merge(SETTINGS_DEFAULTS, {"architecture": {"name": "stylegan", **TINY}, "z_dim": Z, "batch_size": 8,
                                     **delta})


def test_discriminator_tricks_find_their_layers():
    x = torch.randn(8, 1, 28, 28)
    gan = GAN(settings(tricks={"minibatch_stddev": {"group_size": 4}, "spectral_norm": {"generator": True},
                               "d_dropout": True}), (1, 28, 28), "image", 0, CPU)
    assert of_type(gan.D, MinibatchStdDev) and of_type(gan.D, torch.nn.Dropout)
    gan.D.eval(), gan.G.eval()  # no power iteration on each access to a weight
    scaled = [m for m in list(gan.D.modules()) + list(gan.G.modules()) if isinstance(m, (ScaledConv2d, ScaledLinear))]
    assert scaled and all(parametrize.is_parametrized(m, "weight") for m in scaled)
    assert all(torch.equal(m.scaled_weight(), m.weight) for m in scaled)  # σ sets the scale, no He gain on top
    assert gan.D(x).shape == (8,) and gan.G(torch.randn(8, Z)).shape == (8, 1, 28, 28)
    packed = GAN(settings(tricks={"pacgan": {"packing": 2}}), (1, 28, 28), "image", 0, CPU)
    assert packed.D(x).shape == (4,)
    for mode in ("concat", "projection"):
        cond = GAN(settings(conditional=mode), (1, 28, 28), "image", 10, CPU)
        code = cond.sample_z(8)
        assert code.shape == (8, Z + 10) and cond.D(cond.generate(code)).shape == (8,)


# ---------------------------------------------------------------------------------------------------- training
RUNS = {
    "ns-ema-sn": {"loss": "nonsaturating", "tricks": {"ema": {"decay": 0.9}, "spectral_norm": {"generator": True},
                                                      "minibatch_stddev": {"group_size": 4}}},
    "wgan-gp-modulate": {"loss": "wgan-gp", "architecture": {"style_op": "modulate", "d_residual": True},
                         "optimizer": {"lr_g": 1e-4, "lr_d": 1e-4, "betas": [0.0, 0.9]}, "tricks": {"ema": True}},
    "projection-r1": {"conditional": "projection", "loss": "hinge",
                      "tricks": {"gradient_penalty": {"weight": 1.0, "center": 0.0}}},
}


@pytest.mark.parametrize("name", list(RUNS))
def test_training_run_and_evaluation_reload(name, fmnist_npz, tmp_path):
    delta = dict(RUNS[name])
    arch_delta = delta.pop("architecture", {})
    s = settings(**delta, steps=24, log_every=8, checkpoint_every=12, snapshots=2)
    s["architecture"].update(arch_delta)
    run = tmp_path / "run"
    result = train_run(s, fmnist_npz, run, 0, threads=1)
    assert result["status"] == "ok", result["message"]
    log = pd.read_csv(run / "log.csv")
    assert len(log) == 3 and log[["loss_d", "loss_g"]].notna().all().all()
    assert all(math.isfinite(v) for v in log[["loss_d", "loss_g", "penalty"]].to_numpy().flatten())
    state = torch.load(run / "generator.pt", weights_only=True)
    assert state["w_avg"].abs().sum() > 0  # tracked during training, saved with the weights
    assert checkpoint.load_latest(run / "ckpt")["gan"]["step"] == 24  # weights_only=True
    net, z_dim = load_generator(run, load_prepared(fmnist_npz), CPU)
    G = net.generator if isinstance(net, LabelledSampler) else net
    assert isinstance(G, StyleGenerator) and not G.training and torch.equal(G.w_avg, state["w_avg"])
    with torch.no_grad():
        x = net(torch.randn(10, z_dim))
    assert x.shape == (10, 1, 28, 28) and x.abs().max() <= 1 and x.std() > 0
