"""Invalid configs fail before any job starts, with a message that names the key and the expected form."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
import torch
import yaml

from conftest import REPO, env_with_venv, snakemake_cmd
from ganbench.config import Config, merge
from ganbench.errors import ConfigError
from ganbench.train.gan import GAN

BASE = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())


def with_change(path: str, value):
    """Copy of the tiny config with one key set; path like 'variants.0.loss' ('-' deletes the key)."""
    cfg = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    key = int(last) if last.isdigit() else last
    if value == "-":
        del node[key]
    else:
        node[key] = value
    return cfg


BAD = [
    ("unknown variant key", with_change("variants.0.learning_rate", 0.1), "variants[0]", "learning_rate"),
    ("unknown loss", with_change("variants.0.loss", "wasserstien"), "variants[0].loss.name", "wgan-gp"),
    ("unknown architecture", with_change("defaults.architecture", {"name": "resnet9000"}),
     "architecture.name", "dcgan"),
    ("unknown trick", with_change("variants.1.tricks", {"labelsmoothing": True}), "variants[1].tricks.labelsmoothing",
     "label_smoothing"),
    ("unknown dataset", with_change("datasets.cifar100", {}), "datasets.cifar100", "fashion_mnist"),
    ("wrong type", with_change("defaults.steps", "many"), "defaults.steps", "integer"),
    ("negative learning rate", with_change("variants.0.optimizer", {"lr_d": -1e-4}), "variants[0].optimizer.lr_d",
     "minimum"),
    ("zero steps", with_change("variants.1.steps", 0), "variants[1].steps", "minimum"),
    ("empty seeds", with_change("seeds", []), "seeds", "non-empty"),
    ("duplicate variant names", with_change("variants.1.name", "minimax"), "variants[1].name", "duplicate"),
    ("weight clipping without a Wasserstein loss", with_change("variants.0.tricks", {"weight_clip": {"clip": 0.01}}),
     "variants[0].tricks.weight_clip", "wgan"),
    ("unknown architecture option", with_change("defaults.architecture", {"name": "mlp", "hiden": 3}),
     "architecture.hiden", "hidden"),
    ("unknown dataset option", with_change("datasets.ring8", {"n_trian": 5}), "datasets.ring8.n_trian", "n_train"),
    ("label smoothing on a hinge loss",
     with_change("variants.1", {"name": "h", "loss": "hinge", "tricks": {"label_smoothing": True}}),
     "variants[1].tricks.label_smoothing", "real target"),
    ("missing variants", with_change("variants", "-"), "(top level)", "variants"),
    ("bad variant name", with_change("variants.0.name", "a/b"), "variants[0].name", "does not match"),
    # what the papers rule out (issue 14)
    ("WGAN without a Lipschitz constraint", with_change("variants.0.loss", "wgan"), "variants[0].loss", "Lipschitz"),
    ("weight clipping with WGAN-GP", with_change("variants.3.loss", "wgan-gp"), "variants[3].tricks.weight_clip",
     "gradient penalty"),
    ("weight clipping with a gradient-penalty trick", with_change("variants.3.tricks.gradient_penalty", True),
     "variants[3].tricks.weight_clip", "gradient penalty"),
    ("WGAN-GP critic with batch normalisation", with_change("variants.1", {
        "name": "gp", "loss": "wgan-gp", "architecture": {"name": "dcgan", "width": 8}, "datasets": ["fashion_mnist"]}),
     "variants[1].loss", "batch normalisation"),
    ("gradient-penalty trick on a batch-normalised critic", with_change("variants.1", {
        "name": "gp", "loss": "hinge", "tricks": {"gradient_penalty": True}, "architecture": {"name": "dcgan"},
        "datasets": ["fashion_mnist"]}), "variants[1].tricks.gradient_penalty", "batchnorm_d: false"),
    ("both batch and layer norm in D", with_change("variants.1", {
        "name": "ln", "architecture": {"name": "dcgan", "layernorm_d": True}, "datasets": ["fashion_mnist"]}),
     "variants[1].architecture.layernorm_d", "batchnorm_d: false"),
    # impossible option values, refused by the check with the option's key path and valid range
    ("negative instance noise", with_change("variants.1.tricks", {"instance_noise": {"sigma": -1}}),
     "variants[1].tricks.instance_noise.sigma", "a number >= 0"),
    ("real target above 1", with_change("variants.1.tricks", {"label_smoothing": {"real_target": 1.5}}),
     "variants[1].tricks.label_smoothing.real_target", "a number in (0, 1]"),
    ("replay fraction outside [0, 1]", with_change("variants.1.tricks", {"experience_replay": {"fraction": -0.1}}),
     "variants[1].tricks.experience_replay.fraction", "a number in [0, 1]"),
    ("zero unrolling steps", with_change("variants.1.tricks", {"unrolled": {"steps": 0}}),
     "variants[1].tricks.unrolled.steps", "an integer >= 1"),
    ("packing of zero samples", with_change("variants.1.tricks", {"pacgan": {"packing": 0}}),
     "variants[1].tricks.pacgan.packing", "an integer >= 1"),
    ("negative gradient-penalty weight", with_change("variants.1.loss", {"name": "wgan-gp", "gp_weight": -1.0}),
     "variants[1].loss.gp_weight", "a number > 0"),
    # optimizers per network
    ("unknown optimizer for G", with_change("variants.0.optimizer", {"g": {"name": "adamw"}}),
     "variants[0].optimizer.g.name", "adamw"),
    ("negative weight decay of D", with_change("variants.0.optimizer", {"d": {"weight_decay": -1e-4}}),
     "variants[0].optimizer.d.weight_decay", "minimum"),
    ("learning rate inside a network's block", with_change("variants.0.optimizer", {"d": {"lr": 1e-3}}),
     "variants[0].optimizer.d", "lr"),
]


@pytest.mark.parametrize("what,raw,key,hint", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(what, raw, key, hint):
    with pytest.raises(ConfigError) as err:
        Config(raw)
    message = str(err.value)
    assert key in message, message
    assert hint in message, message


def test_gradient_penalty_with_layer_norm_and_per_network_optimizers_are_accepted():
    raw = with_change("variants.1", {"name": "gp", "loss": "wgan-gp", "datasets": ["fashion_mnist"],
                                     "architecture": {"name": "dcgan", "width": 8, "batchnorm_d": False,
                                                      "layernorm_d": True},
                                     "optimizer": {"name": "adam", "g": {"name": "rmsprop"},
                                                   "d": {"weight_decay": 1.0e-4, "betas": [0.0, 0.9]}}})
    gan = GAN(Config(raw).settings("gp"), (1, 28, 28), "image", 10, torch.device("cpu"))
    assert isinstance(gan.opt_g, torch.optim.RMSprop) and isinstance(gan.opt_d, torch.optim.Adam)
    assert gan.opt_d.defaults["weight_decay"] == 1.0e-4 and gan.opt_d.defaults["betas"] == (0.0, 0.9)
    assert gan.opt_g.defaults["weight_decay"] == 0.0


def _enums(node) -> list[list]:
    if isinstance(node, dict):
        return ([node["enum"]] if "enum" in node else []) + [e for v in node.values() for e in _enums(v)]
    if isinstance(node, list):
        return [e for v in node for e in _enums(v)]
    return []


def test_the_schema_repeats_no_registry():
    """Component names are the registries' to know: the schema takes them as strings and the config check looks them
    up (with the key and the registered names in its error), so no enum of the schema may list registered names."""
    from ganbench.config import SCHEMA_PATH
    from ganbench.data import DATASETS
    from ganbench.losses import LOSSES
    from ganbench.models import ARCHITECTURES
    from ganbench.train.conditioning import CONDITIONINGS
    from ganbench.train.models import TRAINING_MODELS
    from ganbench.train.optim import OPTIMIZERS
    from ganbench.tricks import TRICKS

    registered = {name for registry in (DATASETS, LOSSES, ARCHITECTURES, CONDITIONINGS, TRAINING_MODELS, OPTIMIZERS,
                                        TRICKS) for name in registry.names()}
    for enum in _enums(yaml.safe_load(SCHEMA_PATH.read_text())):
        assert not registered & set(enum), f"the schema enumerates registered names: {enum}"


def test_a_newly_registered_optimizer_and_unknown_names_are_judged_by_the_registries(monkeypatch):
    from ganbench.train.optim import OPTIMIZERS, sgd

    raw = with_change("variants.0.optimizer", {"name": "sgd", "d": {"name": "heavyball"}})
    with pytest.raises(ConfigError, match=r"variants\[0\]\.optimizer\.d\.name: unknown optimizer 'heavyball'; "
                                          r"expected one of: adam, rmsprop, sgd"):
        Config(raw)
    monkeypatch.setitem(OPTIMIZERS._items, "heavyball", sgd)  # a new optimizer is one registry entry
    gan = GAN(Config(raw).settings(raw["variants"][0]["name"]), (2,), "points", 0, torch.device("cpu"))
    assert isinstance(gan.opt_d, torch.optim.SGD) and isinstance(gan.opt_g, torch.optim.SGD)
    with pytest.raises(ConfigError, match=r"variants\[1\]\.conditional: unknown conditioning 'film'; expected one of"):
        Config(with_change("variants.1.conditional", "film"))


def test_check_command_refuses_impossible_options_before_training(tmp_path, capsys):
    """Option ranges are checked by `ganbench check` (and so by the Snakefile), not first inside a training job."""
    from ganbench.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(with_change("variants.1.tricks", {"label_smoothing": {"real_target": 1.5}})))
    assert main(["check", "--config", str(cfg)]) == 1  # a runtime error (bad input), not a usage error
    assert "variants[1].tricks.label_smoothing.real_target: expected a number in (0, 1], got 1.5" in \
        capsys.readouterr().err


def test_tiny_and_shipped_configs_are_valid():
    for path in [REPO / "tests/configs/tiny.yaml", *sorted((REPO / "config").glob("*.yaml"))]:
        config = Config.load(path)
        assert list(config.runs()), path


def test_merge_replaces_component_when_name_changes():
    base = {"architecture": {"name": "mlp", "hidden": 64}, "tricks": {"label_smoothing": True}}
    out = merge(base, {"architecture": {"name": "dcgan"}, "tricks": {"label_smoothing": None}})
    assert out["architecture"] == {"name": "dcgan"}
    assert out["tricks"] == {}
    same = merge(base, {"architecture": {"name": "mlp", "layers": 3}})
    assert same["architecture"] == {"name": "mlp", "hidden": 64, "layers": 3}


def test_snakemake_refuses_bad_config_before_any_job(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(with_change("variants.0.loss", "wasserstien")))
    proc = subprocess.run(snakemake_cmd("--directory", str(tmp_path), "--configfile", str(cfg), "--cores", "1"),
                          capture_output=True, text=True, env=env_with_venv(), timeout=300)
    assert proc.returncode != 0
    assert "variants[0].loss.name" in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "data").exists()


def test_snakemake_schema_rejects_unknown_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(with_change("variants.0.learning_rate", 0.1)))
    proc = subprocess.run(snakemake_cmd("--directory", str(tmp_path), "--configfile", str(cfg), "-n"),
                          capture_output=True, text=True, env=env_with_venv(), timeout=300)
    assert proc.returncode != 0
    assert "learning_rate" in proc.stdout + proc.stderr


@pytest.mark.parametrize("extra, message", [
    (["--out", "a.json"], "2 --run-dir but 1 --out"),
    (["--out", "a.json", "b.json", "--seed", "0"], "2 --run-dir but 1 --seed"),
])
def test_evaluate_command_names_mismatched_run_lists(tmp_path, capsys, monkeypatch, extra, message):
    """One evaluate job covers several runs; lists of different lengths are refused before anything is written
    (a runtime error: exit status 1)."""
    from ganbench.cli import main

    monkeypatch.chdir(tmp_path)  # the relative --out paths would land here
    inputs = {"r0", "r1", "d.npz"}  # they exist (a missing one is reported first)
    for name in inputs:
        (tmp_path / name).mkdir()
    code = main(["evaluate", "--config", str(REPO / "tests/configs/tiny.yaml"), "--run-dir", "r0", "r1",
                 "--data", "d.npz", *extra])
    assert code == 1 and message in capsys.readouterr().err
    assert {p.name for p in tmp_path.iterdir()} == inputs


# ---------------------------------------------------------------------------------------------- extends
CHAIN = {
    "seeds": [0], "datasets": {"ring8": {}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 32}, "steps": 100},
    "variants": [
        {"name": "A", "label": "A baseline", "loss": "minimax", "datasets": ["ring8"]},
        {"name": "B", "extends": "A", "label": "B + EMA", "tricks": {"ema": {"decay": 0.99}}},
        {"name": "C", "extends": "B", "tricks": {"ema": {"start": 10}, "spectral_norm": True},
         "architecture": {"hidden": 48}},
        {"name": "D", "extends": "C", "tricks": {"ema": None}, "loss": {"name": "wgan-gp", "gp_weight": 5.0}},
    ],
}
FLAT = {**CHAIN, "variants": [
    {"name": "A", "label": "A baseline", "loss": "minimax", "datasets": ["ring8"]},
    {"name": "B", "label": "B + EMA", "loss": "minimax", "datasets": ["ring8"], "tricks": {"ema": {"decay": 0.99}}},
    {"name": "C", "loss": "minimax", "datasets": ["ring8"], "architecture": {"hidden": 48},
     "tricks": {"ema": {"decay": 0.99, "start": 10}, "spectral_norm": True}},
    {"name": "D", "loss": {"name": "wgan-gp", "gp_weight": 5.0}, "datasets": ["ring8"],
     "architecture": {"hidden": 48}, "tricks": {"spectral_norm": True}},
]}


def test_extends_chains_merge_exactly_as_the_flat_config_written_out():
    chain, flat = Config(CHAIN), Config(FLAT)
    for name in "ABCD":
        assert chain.settings(name) == flat.settings(name), name
    assert chain.label("C") == "C"  # a label is not inherited
    assert chain.settings("C")["architecture"] == {"name": "mlp", "hidden": 48}  # options without a name adjust
    assert chain.settings("D")["loss"] == {"name": "wgan-gp", "gp_weight": 5.0}  # a new name replaces the component


@pytest.mark.parametrize("variants, message", [
    ([{"name": "A", "extends": "Z"}], "variants[0].extends: no variant 'Z' to extend"),
    ([{"name": "A", "extends": "A"}], "variants[0].extends: the chain of `extends` has a cycle: A → A"),
    ([{"name": "A", "extends": "B"}, {"name": "B", "extends": "A"}], "cycle: A → B → A"),
    ([{"name": "A"}, {"name": "B", "extends": "A", "architecture": {"depth": 3}}], "variants[1].architecture.depth"),
])
def test_bad_extends_chains_are_refused_naming_the_key(variants, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config({**CHAIN, "variants": variants})


def test_editing_a_parent_changes_the_identity_of_every_run_below_it():
    """`extends` is resolved before the run identity is taken: an edit of row B retrains B, C and D, not A."""
    from ganbench import specs

    edited = copy.deepcopy(CHAIN)
    edited["variants"][1]["optimizer"] = {"lr_d": 1e-3}
    before, after = Config(CHAIN), Config(edited)
    changed = {v for v in "ABCD" if specs.train_param(specs.train_spec(before, "ring8", v, 0))
               != specs.train_param(specs.train_spec(after, "ring8", v, 0))}
    assert changed == {"B", "C", "D"}
