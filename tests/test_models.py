"""Architectures and the non-adversarial baselines: shapes for every registered family on every shape it supports,
the SNGAN ResNet's size, the autoencoder's fitted Gaussian, and short CPU runs of the ResNet GAN, the VAE and the
autoencoder through ``train_run`` on a Fashion-MNIST subset, rebuilt for evaluation by ``load_generator``.
"""

from __future__ import annotations

import copy
import io
import math
from typing import Any

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO
from ganbench.config import SETTINGS_DEFAULTS, Config, merge
from ganbench.data import load_prepared
from ganbench.errors import ConfigError
from ganbench.metrics.evaluate import load_generator
from ganbench.models import ARCHITECTURES, Architecture, EncoderDecoder
from ganbench.models.autoencoder import FittedGaussianDecoder
from ganbench.models.dcgan import DCGAN
from ganbench.train.autoencoders import AutoencoderModel, VAEModel
from ganbench.train.gan import GAN, STAT_NAMES
from ganbench.train.models import build_model
from ganbench.train.run import train_run

CPU = torch.device("cpu")
Z_DIM = 16
BATCH = 4
SHAPES: list[tuple[tuple[int, ...], str]] = [((2,), "points"), ((1, 28, 28), "image"), ((3, 32, 32), "image"),
                                             ((3, 64, 64), "image"), ((1, 30, 30), "image")]
SMALL: dict[str, dict[str, Any]] = {  # narrow options keep the shape tests fast; others use their defaults
    "mlp": {"hidden": 16},
    "dcgan": {"width": 8},
    "resnet": {"ch_g": 16, "ch_d": 16},
    "vae": {"width": 8},
    "autoencoder": {"filters": [8, 4]},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def family(name: str, shape: tuple[int, ...], kind: str, options: dict[str, Any] | None = None,
           z_dim: int = Z_DIM):
    """Architecture ``name`` for one shape: with ``SMALL`` options unless ``options`` are given."""
    return ARCHITECTURES.get(name)(shape, kind, z_dim, 0, SMALL.get(name, {}) if options is None else options,
                                   "architecture")


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


CASES = [(name, shape, kind) for name in ARCHITECTURES for shape, kind in SHAPES
         if ARCHITECTURES.get(name).supports(kind, shape) is None]


def test_the_expected_families_and_shapes_are_covered():
    covered = {(name, shape[-1]) for name, shape, _ in CASES}
    for expected in [("mlp", 2), ("mlp", 28), ("dcgan", 28), ("dcgan", 32), ("dcgan", 64), ("resnet", 28),
                     ("resnet", 32), ("resnet", 64), ("vae", 32), ("autoencoder", 28)]:
        assert expected in covered, expected
    assert ("dcgan", 30) not in covered and ("resnet", 2) not in covered


@pytest.mark.parametrize("name,shape,kind", CASES, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s, _ in CASES])
@torch.no_grad()
def test_output_shapes(name, shape, kind):
    arch = family(name, shape, kind)
    G = arch.generator().eval()
    x = G(torch.randn(BATCH, Z_DIM))
    assert x.shape == (BATCH, *shape)
    if kind == "image":
        assert x.min() >= -1 and x.max() <= 1
    if isinstance(arch, Architecture):
        assert arch.discriminator().eval()(x).shape == (BATCH,)
    else:  # a baseline has an encoder and no discriminator
        assert isinstance(arch, EncoderDecoder) and not hasattr(arch, "discriminator")
        assert arch.encoder().eval()(x).shape[0] == BATCH


def test_resnet_has_the_size_of_the_sngan_cifar10_networks():
    """Miyato et al. 2018, CIFAR-10 ResNet (z 128, ch_g 256, ch_d 128): G ≈ 4.3M, D ≈ 1.0M parameters."""
    arch = family("resnet", (3, 32, 32), "image", {}, z_dim=128)
    assert 4.2e6 < n_params(arch.generator()) < 4.4e6
    assert 1.0e6 < n_params(arch.discriminator()) < 1.1e6


def test_vae_decoder_is_the_dcgan_generator_of_the_same_width():
    vae = family("vae", (3, 32, 32), "image", {"width": 16})
    dcgan = family("dcgan", (3, 32, 32), "image", {"width": 16})
    assert isinstance(dcgan, DCGAN)
    a, b = vae.generator().state_dict(), dcgan.generator().state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    assert vae.encoder()(torch.zeros(2, 3, 32, 32)).shape == (2, 2 * Z_DIM)


def test_autoencoder_is_the_lecture_network():
    arch = family("autoencoder", (1, 28, 28), "image", {})
    convs = [m for m in arch.encoder().modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 16]
    assert arch.code_shape == (16, 7, 7)
    with pytest.raises(ConfigError, match=r"architecture\.filters"):
        family("autoencoder", (1, 28, 28), "image", {"filters": [8, 8, 8]})  # 28 is not a multiple of 8


def test_fitted_gaussian_decoder_samples_the_top_principal_directions():
    torch.manual_seed(0)
    net = FittedGaussianDecoder(torch.nn.Identity(), (3, 1, 1), z_dim=2)  # decode = the code itself
    mean = torch.tensor([1.0, -2.0, 0.5])
    cov = torch.diag(torch.tensor([4.0, 1.0, 0.25]))
    net.fit(mean, cov)
    codes = net(torch.randn(20000, 2)).flatten(1)
    assert torch.allclose(codes.mean(0), mean, atol=0.05)
    # rank 2: the two largest variances are kept, the smallest direction collapses onto the mean
    assert torch.allclose(codes.var(0), torch.tensor([4.0, 1.0, 0.0]), atol=0.1)


def test_autoencoder_code_statistics_are_the_running_mean_and_covariance():
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "autoencoder", "filters": [4, 2]},
                                         "z_dim": 8, "batch_size": 8})
    model = build_model(settings, (1, 28, 28), "image", 0, CPU)
    assert isinstance(model, AutoencoderModel)
    codes = [torch.randn(8, 2, 7, 7) * torch.linspace(0.1, 2, 98).view(1, 2, 7, 7) + 3 for _ in range(5)]
    for c in codes:
        model._track(c)
    flat = torch.cat(codes).flatten(1)
    assert torch.allclose(model.code_mean, flat.mean(0), atol=1e-5)
    assert torch.allclose(model.code_cov, torch.cov(flat.T, correction=0), atol=1e-4)


def test_training_models_are_chosen_by_the_architecture_and_survive_a_checkpoint():
    for name, cls in [("dcgan", GAN), ("vae", VAEModel), ("autoencoder", AutoencoderModel)]:
        settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": name, **SMALL[name]}, "z_dim": Z_DIM,
                                             "batch_size": BATCH})
        model = build_model(settings, (1, 28, 28), "image", 0, CPU)
        assert type(model) is cls
        stats = model.train_step(lambda: torch.rand(BATCH, 1, 28, 28) * 2 - 1)
        assert set(stats) == set(STAT_NAMES) and all(v.ndim == 0 for v in stats.values())
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        again = build_model(settings, (1, 28, 28), "image", 0, CPU)
        again.load_state_dict(torch.load(buf, weights_only=True))
        assert again.step == 1
        for a, b in zip(model.sampler().state_dict().values(), again.sampler().state_dict().values()):
            assert torch.equal(a, b)


def test_a_baseline_is_its_own_training_model_and_sampling_changes_nothing():
    """The autoencoder trains G and its encoder (no discriminator, no d_steps, no tricks); ``sampler()`` fits the
    Gaussian of the codes seen so far into a network that shares G's decoder, and leaves the model's state and the
    random stream untouched, so a snapshot mid-training does not change the run."""
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "autoencoder", "filters": [4, 2]}, "z_dim": 8,
                                         "batch_size": 8})
    torch.manual_seed(0)
    model = build_model(settings, (1, 28, 28), "image", 0, CPU)
    assert not model.adversarial and set(model.networks()) == {"G", "encoder"}
    assert not any(hasattr(model, name) for name in ("Ds", "D", "d_steps", "tricks"))
    for _ in range(3):
        model.train_step(lambda: torch.rand(8, 1, 28, 28) * 2 - 1)
    before, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    net = model.sampler()
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    for key in ("G", "encoder"):
        assert all(torch.equal(before[key][k], after[key][k]) for k in before[key]), key
    assert torch.equal(net.mean, model.code_mean) and net.basis.abs().sum() > 0
    assert net.decoder is model.G.decoder and net.state_dict().keys() == model.G.state_dict().keys()


# ---------------------------------------------------------------------- short runs on Fashion-MNIST
RUNS = {
    "resnet": {"ch_g": 16, "ch_d": 16},
    "vae": {"width": 16},
    "autoencoder": {},  # the lecture's widths
}


@pytest.mark.parametrize("name", list(RUNS))
def test_short_run_trains_and_evaluation_rebuilds_the_generator(name, fmnist_npz, tmp_path):
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": name, **RUNS[name]}, "z_dim": Z_DIM,
                                         "batch_size": 16, "steps": 30, "log_every": 10, "checkpoint_every": 20,
                                         "snapshots": 2})
    result = train_run(settings, fmnist_npz, tmp_path, seed=0, threads=1)
    assert result["status"] == "ok", result["message"]
    assert result["steps"] == 30
    log = pd.read_csv(tmp_path / "log.csv")
    assert log["step"].tolist() == [10, 20, 30]
    assert all(math.isfinite(v) for v in log[list(STAT_NAMES)].to_numpy().ravel())
    if name != "resnet":  # the reconstruction loss (loss_d) falls even in 30 steps
        assert log["loss_d"].iloc[-1] < log["loss_d"].iloc[0]
    data = load_prepared(fmnist_npz)
    net, z_dim = load_generator(tmp_path, data, CPU)
    with torch.no_grad():
        images = net(torch.randn(8, z_dim))
    assert images.shape == (8, *data.shape)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # samples differ (for the autoencoder: its Gaussian was fitted and saved)


# ---------------------------------------------------------------------- config
def test_tricks_on_a_vae_are_refused_naming_the_key():
    raw = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    raw["variants"].append({"name": "vae", "architecture": {"name": "vae", "width": 8},
                            "tricks": {"spectral_norm": True}})
    index = len(raw["variants"]) - 1
    with pytest.raises(ConfigError, match=rf"^variants\[{index}\]\.tricks\.spectral_norm: .*non-adversarial vae"):
        Config(raw)
    del raw["variants"][index]["tricks"]
    assert Config(raw).variant_datasets("vae") == ["fashion_mnist"]


def test_lucic2018s_vae_row_trains_a_vae():
    config = Config.load(REPO / "config/lucic2018.yaml")
    settings = config.settings("vae")
    for dataset in config.variant_datasets("vae"):
        builder = config.dataset_builder(dataset)
        assert isinstance(build_model(settings, builder.shape, builder.kind, builder.num_classes, CPU), VAEModel)


# ------------------------------------------------------------------------------ fast transposed convolution
@pytest.mark.parametrize("c_in, c_out, size, kernel, stride, padding, bias", [
    (32, 1, 14, 4, 2, 1, True),   # DCGAN's 28×28 output layer
    (16, 3, 16, 4, 2, 1, True),   # an RGB output layer
    (8, 1, 5, 3, 2, 0, False),    # other kernel, stride, padding
    (16, 32, 7, 4, 2, 1, False),  # a wide layer: nn.ConvTranspose2d's own kernel
])
def test_fast_conv_transpose_is_nn_conv_transpose2d(c_in, c_out, size, kernel, stride, padding, bias, monkeypatch):
    from ganbench.models import conv_transpose
    from ganbench.models.conv_transpose import ConvTranspose2d

    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, bias=bias)
    fast = ConvTranspose2d(c_in, c_out, kernel, stride, padding, bias=bias)
    fast.load_state_dict(ref.state_dict())
    assert isinstance(fast, torch.nn.ConvTranspose2d) and fast.state_dict().keys() == ref.state_dict().keys()
    folds = []
    real_fold = conv_transpose.F.fold
    monkeypatch.setattr(conv_transpose.F, "fold", lambda *a, **k: folds.append(1) or real_fold(*a, **k))
    x = torch.randn(6, c_in, size, size)
    for layout in (torch.contiguous_format, torch.channels_last):
        with torch.no_grad():
            xl = x.contiguous(memory_format=layout)
            torch.testing.assert_close(fast(xl), ref(xl), rtol=1e-5, atol=1e-5)
    assert len(folds) == (2 if c_out <= conv_transpose.FOLD_MAX_OUT_CHANNELS else 0)
    # training: PyTorch's own kernel (its numerics), so outputs and gradients are those of nn.ConvTranspose2d
    folds.clear()
    xr = x.clone().requires_grad_(True)
    out = fast(xr)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    grads = [xr.grad] + [p.grad for p in fast.parameters()]
    xr.grad = None
    out_ref = ref(xr)
    (out_ref * torch.linspace(-1, 1, out_ref.numel()).view_as(out_ref)).sum().backward()
    assert torch.equal(out, out_ref)
    for ours, theirs in zip(grads, [xr.grad] + [p.grad for p in ref.parameters()]):
        assert torch.equal(ours, theirs)
    assert not folds
    # under CPU bf16 autocast PyTorch's kernel (oneDNN's bf16 path, as fast): the same values as nn.ConvTranspose2d's
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(fast(x), ref(x))
    assert not folds


def test_dcgan_generator_uses_the_fast_layer_and_keeps_spectral_norm_working():
    from ganbench.models.conv_transpose import ConvTranspose2d
    from ganbench.tricks.spectral_norm import apply_spectral_norm

    g = family("dcgan", (1, 28, 28), "image").generator()
    layers = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert layers and all(isinstance(m, ConvTranspose2d) for m in layers)
    apply_spectral_norm(g)
    last = layers[-1]
    assert torch.nn.utils.parametrize.is_parametrized(last, "weight")
    z = torch.randn(5, Z_DIM)
    g.eval()
    with torch.no_grad():
        x = z
        for m in g:
            x = m(x) if m is not last else torch.nn.functional.conv_transpose2d(x, last.weight, last.bias, 2, 1)
        torch.testing.assert_close(g(z), x, rtol=1e-5, atol=1e-5)


def test_fast_conv_transpose_reads_a_spectral_normalised_weight_once_per_forward():
    from ganbench.models.conv_transpose import ConvTranspose2d
    from ganbench.tricks.spectral_norm import apply_spectral_norm

    torch.manual_seed(0)
    fast, ref = ConvTranspose2d(8, 1, 4, 2, 1), torch.nn.ConvTranspose2d(8, 1, 4, 2, 1)
    ref.load_state_dict(fast.state_dict())
    for m in (fast, ref):
        apply_spectral_norm(m)
    ref.load_state_dict(fast.state_dict())  # the same power-iteration vectors
    x = torch.randn(3, 8, 7, 7)
    for _ in range(3):  # training mode: each forward runs one power iteration, in both
        assert torch.equal(fast(x), ref(x))
    assert torch.equal(fast.parametrizations.weight[0]._u, ref.parametrizations.weight[0]._u)
