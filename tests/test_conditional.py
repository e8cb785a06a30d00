"""Class-conditional GANs: labels enter G's code and D's input; projection D; one grid row per label."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image

from ganbench.config import SETTINGS_DEFAULTS, Config, merge
from ganbench.errors import ConfigError
from ganbench.metrics.conditional import conditional_accuracy
from ganbench.metrics.evaluate import load_generator
from ganbench.train.conditioning import CONDITIONINGS, LabelledSampler, ProjectionDiscriminator
from ganbench.train.gan import GAN
from ganbench.train.run import train_run


def settings(**delta):
    return merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "batch_size": 16, **delta})


def test_concat_puts_labels_in_the_code_and_in_d_input():
    gan = GAN(settings(conditional="concat"), (2,), "points", 8, torch.device("cpu"))
    code = gan.sample_z(16)
    assert code.shape == (16, 64 + 8)
    onehot = code[:, -8:]
    assert torch.equal(onehot.sum(1), torch.ones(16)) and set(onehot.unique().tolist()) <= {0.0, 1.0}
    fake = gan.generate(code)
    assert fake.shape == (16, 2 + 8) and torch.equal(fake[:, 2:], onehot)
    real = gan.real_batch(torch.zeros(4, 2), torch.tensor([0, 3, 7, 3]))
    assert real[:, 2:].argmax(1).tolist() == [0, 3, 7, 3]
    assert gan.D(fake).shape == (16,)


def test_concat_label_planes_for_images():
    cond = CONDITIONINGS.get("concat")(10)
    x = torch.zeros(3, 1, 28, 28)
    out = cond.attach(x, cond.one_hot(torch.tensor([2, 5, 9])))
    assert out.shape == (3, 11, 28, 28)
    assert out[1, 1 + 5].eq(1).all() and out[1, 1:].sum() == 28 * 28


def test_projection_discriminator_adds_the_label_projection():
    gan = GAN(settings(conditional="projection"), (1, 28, 28), "image", 10, torch.device("cpu"))
    D = gan.D
    assert isinstance(D, ProjectionDiscriminator)
    x = torch.randn(5, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 3, 4])
    out = D(gan.real_batch(x, labels))
    # by hand: ψ(φ(x)) + <E y, φ(x)>
    phi = {}
    hook = D.inner.get_submodule(_head_name(D)).head.register_forward_hook(lambda m, i, o: phi.update(x=i[0]))
    D(gan.real_batch(x, labels))
    hook.remove()
    head = D.inner.get_submodule(_head_name(D))
    expected = head.head(phi["x"]).flatten() + (head.embed(gan.conditioning.one_hot(labels)) * phi["x"]).sum(1)
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(out, D(gan.real_batch(x, (labels + 1) % 10)))  # the label matters
    clone = copy.deepcopy(D)  # the unrolled trick deep-copies D: the copy must carry its own label slot
    assert torch.allclose(clone(gan.real_batch(x, labels)), out, atol=1e-6)


def _head_name(D: ProjectionDiscriminator) -> str:
    from ganbench.train.conditioning import _ProjectionHead

    return next(n for n, m in D.inner.named_modules() if isinstance(m, _ProjectionHead))


@pytest.mark.parametrize("mode", ["concat", "projection"])
def test_conditional_training_grid_and_evaluation(mode, tmp_path, fmnist_npz):
    data_path = fmnist_npz
    run = tmp_path / "run"
    s = settings(conditional=mode, steps=30, log_every=10, checkpoint_every=10, snapshots=1,
                 tricks={"unrolled": {"steps": 2}, "spectral_norm": True})
    result = train_run(s, data_path, run, 0, threads=1)
    assert result["status"] == "ok"
    grid = Image.open(run / "samples.png")
    assert grid.size == (8 * 30 + 2, 10 * 30 + 2)  # 8 columns, one row per label, 2-pixel padding
    from ganbench.data import load_prepared

    net, z_dim = load_generator(run, load_prepared(data_path), torch.device("cpu"))
    assert isinstance(net, LabelledSampler)
    images = net(torch.randn(20, z_dim))
    assert images.shape == (20, 1, 28, 28) and images.abs().max() <= 1.0

    class Oracle(torch.nn.Module):  # labels everything 3: accuracy = share of requested 3s
        def infer(self, x):
            logits = torch.zeros(len(x), 10)
            logits[:, 3] = 1.0
            return None, logits

    labels = torch.arange(100) % 10
    assert conditional_accuracy(net, labels, Oracle(), z_dim) == pytest.approx(0.1)


def test_config_rejects_conditioning_without_labels_or_with_packing(repo):
    import yaml

    raw = yaml.safe_load((repo / "tests/configs/tiny.yaml").read_text())
    raw["datasets"]["faces"] = {"type": "celeba64"}
    raw["variants"] = [{"name": "c", "conditional": "concat", "datasets": ["faces"]}]
    with pytest.raises(ConfigError, match=r"variants\[0\]\.conditional: dataset 'faces' has no class labels"):
        Config(raw)
    raw["variants"] = [{"name": "c", "conditional": "concat"}]
    assert "faces" not in Config(raw).variant_datasets("c")  # unlabelled data is left out, not an error
    raw["variants"] = [{"name": "p", "conditional": "projection", "tricks": {"pacgan": {"packing": 2}}}]
    with pytest.raises(ConfigError, match=r"variants\[0\]\.tricks\.pacgan"):
        Config(raw)
    raw["variants"] = [{"name": "v", "conditional": "concat", "architecture": {"name": "vae"}}]
    with pytest.raises(ConfigError, match=r"variants\[0\]\.conditional"):
        Config(raw)
    raw["variants"] = [{"name": "x", "conditional": "yes"}]
    with pytest.raises(ConfigError, match=r"variants\[0\]\.conditional"):
        Config(raw)
