"""Autoencoder and VAE evaluation as in the lecture: reconstruction error on the test split (against independent
computations from the checkpoint's weights), and the report's pictures (reconstructions, encoder filters, the latent
space on its principal components), on short real runs on a Fashion-MNIST subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.config import SETTINGS_DEFAULTS, evaluation_defaults, merge
from ganbench.data import load_prepared
from ganbench.io import read_json
from ganbench.metrics import registry
from ganbench.metrics.context import RunContext, Shared
from ganbench.metrics.reconstruction import Codec, LoadedCodec, load_codec, reconstruction_metrics
from ganbench.models import ARCHITECTURES
from ganbench.train.checkpoint import load_file
from ganbench.train.run import train_run

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")
RUNS = {"autoencoder": {"filters": [8, 4]}, "vae": {"width": 8}}


@pytest.fixture(scope="module")
def runs(fmnist_small, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, options in RUNS.items():
        settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": name, **options}, "z_dim": 16,
                                             "batch_size": 32, "steps": 60, "log_every": 20, "checkpoint_every": 30,
                                             "snapshots": 1, "optimizer": {"lr_g": 2e-3}})
        out[name] = tmp_path_factory.mktemp(name)
        assert train_run(settings, fmnist_small, out[name], seed=0, threads=1)["status"] == "ok"
    return out


def test_an_identity_codec_reconstructs_exactly():
    images = np.random.default_rng(0).integers(0, 256, size=(20, 1, 28, 28), dtype=np.uint8)
    identity = LoadedCodec(Codec(lambda e, x: x, lambda g, c: c), torch.nn.Identity(), torch.nn.Identity(), 0)
    out = reconstruction_metrics(identity, images, batch_size=7)
    t = images.astype(np.float64) / 255
    p = np.clip(t, 1e-6, 1 - 1e-6)
    entropy = -(t * np.log(p) + (1 - t) * np.log(1 - p))  # the BCE of a perfect reconstruction: the pixels' entropy
    assert out["reconstruction_mse"] == pytest.approx(0.0, abs=1e-10)
    assert out["reconstruction_bce"] == pytest.approx(entropy.reshape(20, -1).sum(1).mean(), rel=1e-5)
    assert out["reconstruction_images"] == 20


@pytest.mark.parametrize("name", list(RUNS))
def test_reconstruction_error_on_the_test_split_from_the_checkpoints_encoder(name, runs, fmnist_small):
    data = load_prepared(fmnist_small)
    options = {**evaluation_defaults(), "num_samples": 200, "batch_size": 64}
    ctx = RunContext(runs[name], Shared(data, options, CPU), read_json(runs[name] / "train.json"))
    evaluator = registry.load().get("reconstruction")
    assert evaluator.applies(ctx)
    out = evaluator.check(evaluator.compute(ctx))
    # independently: fresh networks with the final checkpoint's weights, the first 200 test images
    state = load_file(sorted((runs[name] / "ckpt").glob("step*.pt"))[-1])["gan"]
    family = ARCHITECTURES.get(name)(data.shape, "image", 16, 10, RUNS[name], "a")
    encoder, decoder = family.encoder().eval(), family.generator().eval()
    encoder.load_state_dict(state["encoder"])
    decoder.load_state_dict(state["G"])
    x = torch.from_numpy(data.x_test[:200]).float() / 127.5 - 1
    with torch.no_grad():
        if name == "vae":
            recon = decoder(encoder(x)[:, :16])  # the posterior mean, decoded
        else:
            recon = decoder.decoder(encoder(x))  # the code itself, decoded (not the fitted Gaussian's sampler)
    expected = ((recon + 1) / 2 - (x + 1) / 2).square().mean()
    assert out["reconstruction_mse"] == pytest.approx(float(expected), rel=1e-4)
    assert out["reconstruction_images"] == 200
    # training helped: a fresh, untrained pair reconstructs worse
    fresh = LoadedCodec(load_codec(runs[name], data.shape, ctx.settings, 10).codec, family.encoder().eval(),
                        family.generator().eval(), 0)
    assert reconstruction_metrics(fresh, data.x_test[:200])["reconstruction_mse"] > out["reconstruction_mse"]
    gan = RunContext(runs[name], Shared(data, options, CPU), {"settings": {"architecture": {"name": "mlp"}}})
    assert not evaluator.applies(gan)


def test_principal_components_find_the_direction_of_largest_variance():
    from ganbench.report.autoencoders import principal_components

    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    codes = rng.normal(size=(500, 1)) * 10 * direction + rng.normal(size=(500, 3)) * 0.1 + 7.0
    xy, explained = principal_components(torch.from_numpy(codes))
    assert xy.shape == (500, 2) and abs(xy[:, 0].mean()) < 1e-9  # centred
    assert explained[0] > 0.99 and explained[0] >= explained[1]
    assert abs(np.corrcoef(xy[:, 0], codes @ direction)[0, 1]) > 0.999


@pytest.mark.parametrize("name", list(RUNS))
def test_report_shows_reconstructions_encoder_filters_and_latent_space(name, runs, fmnist_small, tmp_path):
    from ganbench.report.pictures import run_pictures as _run_pictures

    data = load_prepared(fmnist_small)
    context = {"classifier": tmp_path / "no-classifier.pt", "class_names": ()}
    pictures, notes = _run_pictures(runs[name], data, tmp_path, tmp_path / "img", context)
    titles = {p["title"] for p in pictures}
    assert {"Input vs reconstruction", "First-layer filters of the encoder", "Latent space (PCA)"} <= titles
    for picture in pictures:
        assert (tmp_path / picture["src"]).is_file() and (tmp_path / picture["src"]).stat().st_size > 500
    latent = next(p for p in pictures if p["title"] == "Latent space (PCA)")
    assert "first two principal components (PCA), coloured by the true class" in latent["note"]
    # the D filters picture says why it is missing; the arithmetic says the classifier is
    assert any(n.startswith("First-layer filters of D: not available") for n in notes)
    assert any(n.startswith("Latent-vector arithmetic: not available") for n in notes)
