"""Evaluation as the StyleGAN paper did it (``ganbench.metrics.mixing``, ``ppl``, ``truncation``): FID with k
latents mixed at test time really feeds k different w to the layers (forward hooks on the style inputs), k = 1 is
ordinary sampling, PPL through torch-fidelity with the offline domain-classifier distance, the truncation ψ used is
recorded, and generation is reproducible (the per-pixel noise inputs included): two evaluations of one run give
identical metrics.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from test_stylegan import StyleTap, distinct

from conftest import REPO, env_with_venv, snakemake_cmd
from ganbench.config import SETTINGS_DEFAULTS, Config, evaluation_defaults, merge
from ganbench.data import load_prepared
from ganbench.errors import ConfigError
from ganbench.metrics.classifier import classifier_data, save_classifier, train_classifier
from ganbench.metrics.evaluate import evaluate_run, generate, real_features
from ganbench.metrics.mixing import MIXED_FID_METRICS, mixed_batches, style_options
from ganbench.metrics.ppl import (
    CLASSIFIER_SIMILARITY,
    LPIPS,
    check_similarity,
    lpips_available,
    perceptual_path_length,
)
from ganbench.metrics.registry import score, score_registry
from ganbench.models import ARCHITECTURES
from ganbench.report.stylegan import effective_settings, mixing_table
from ganbench.train.run import train_run

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")
Z = 16
TINY = {"name": "stylegan", "ch_g": 8, "ch_d": 8, "w_dim": 16, "mapping_layers": 2}
OPTIONS = merge(evaluation_defaults(), {"num_samples": 300, "batch_size": 100, "kid_subset_size": 100, "kid_subsets": 5,
                                      "memorization_samples": 100, "ppl_samples": 100})
RUN_ID = {"dataset": "fashion_mnist", "variant": "F", "seed": 0}


def generator(**options):
    arch = {k: v for k, v in {**TINY, **options}.items() if k != "name"}
    G = ARCHITECTURES.get("stylegan")((1, 28, 28), "image", Z, 0, arch, "architecture").generator()
    return G.eval()


@torch.no_grad()
def test_mixing_at_test_time_feeds_k_different_w_and_one_latent_is_ordinary_sampling():
    G = generator()  # 28 px: 6 style inputs
    tap = StyleTap(G)
    plain = torch.cat(list(generate(G, Z, 250, 100, 7, CPU)))
    tap.seen.clear()
    for k in (1, 2, 3, 4):
        batches, ws = [], []
        for batch in mixed_batches(G, Z, k, 250, 100, 7, CPU):  # the w of each batch's layers, read by hooks
            batches.append(batch)
            ws.append(tap.ws())
        images, ws = torch.cat(batches), torch.cat(ws)
        assert images.shape == (250, 1, 28, 28) and ws.shape == (250, 6, 16)
        assert distinct(ws) == [k] * 250, f"k = {k}: {set(distinct(ws))} distinct w per sample"
        if k == 1:
            assert torch.equal(images, plain)  # the same codes and noise as ordinary sampling
    tap.close()


@torch.no_grad()
def test_generation_is_reproducible_with_noise_inputs_and_leaves_the_global_rng_alone():
    G = generator(noise=True)
    for m in G.modules():  # noise inputs start at zero weight: make them matter
        if type(m).__name__ == "NoiseInput":
            m.weight.fill_(1.0)
    z = torch.randn(20, Z)
    assert not torch.equal(G(z), G(z)), "the noise inputs should draw fresh noise on every call"
    state = torch.get_rng_state()
    first = torch.cat(list(generate(G, Z, 250, 100, 3, CPU)))
    assert torch.equal(torch.get_rng_state(), state)
    torch.randn(1000)  # whatever else ran in between
    assert torch.equal(first, torch.cat(list(generate(G, Z, 250, 100, 3, CPU))))
    assert not torch.equal(first, torch.cat(list(generate(G, Z, 250, 100, 4, CPU))))
    mixed = [torch.cat(list(mixed_batches(G, Z, 3, 250, 100, 3, CPU))) for _ in range(2)]
    assert torch.equal(*mixed)


def test_style_options_name_the_runs_that_can_mix():
    assert style_options({"architecture": {"name": "stylegan"}})["mixing"] == 0.9
    assert style_options({"architecture": {"name": "stylegan", "styles": False}}) is None
    assert style_options({"architecture": {"name": "dcgan"}}) is None


# ------------------------------------------------------------------------------------------- PPL
def test_ppl_similarity_is_lpips_only_with_its_weights_and_otherwise_the_classifier():
    check_similarity("auto")
    check_similarity(CLASSIFIER_SIMILARITY)
    with pytest.raises(ConfigError, match="evaluation.ppl_similarity"):
        check_similarity("lpips")
    if lpips_available():
        check_similarity(LPIPS)
    else:  # offline (as here): torch-fidelity would try to download them
        with pytest.raises(ConfigError, match=r"evaluation\.ppl_similarity: lpips-vgg16 needs .*weights-vgg16"):
            check_similarity(LPIPS)
    description = score("ppl").describe(evaluation_defaults())
    assert "LPIPS" in description and "classifier" in description and "2000 paths" in description


@pytest.fixture(scope="module")
def classifier(fmnist_npz, tmp_path_factory) -> Path:
    """A domain classifier trained briefly on the 2000 training images (features for FID and PPL)."""
    arrays, num_classes, _ = classifier_data(load_prepared(fmnist_npz))
    options = {**evaluation_defaults()["classifier"], "epochs": 2}
    model, _ = train_classifier(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                                num_classes, options)
    path = tmp_path_factory.mktemp("classifier") / "model.pt"
    save_classifier(model, path)
    return path


def test_ppl_is_zero_for_a_generator_that_ignores_its_code(classifier):
    G = generator(noise=True)
    options = {**OPTIONS, "ppl_samples": 200}
    out = perceptual_path_length(G, Z, options, CPU, classifier)
    assert out["ppl_similarity"] == (LPIPS if lpips_available() else CLASSIFIER_SIMILARITY)
    assert out["ppl"] > 0 and out["ppl_w"] > 0 and out["ppl_samples"] == 200 and out["ppl_epsilon"] == 1e-4
    assert out["ppl_w"] != out["ppl"]  # other paths: in W, full (t uniform) rather than in z from t = 0
    G.truncation_psi = 0.0  # every w is the mean w: both ends of each path give the same image (same noise too)
    flat = perceptual_path_length(G, Z, options, CPU, classifier)
    assert flat["ppl"] == 0.0 and flat["ppl_w"] == 0.0


# ------------------------------------------------------------------------------------------- a trained run
@pytest.fixture(scope="module")
def style_run(fmnist_npz, tmp_path_factory) -> Path:
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {**TINY, "noise": True}, "z_dim": Z, "batch_size": 16,
                                         "steps": 30, "checkpoint_every": 15, "log_every": 15, "snapshots": 2})
    run = tmp_path_factory.mktemp("style") / "run"
    assert train_run(settings, fmnist_npz, run, 0, threads=1)["status"] == "ok"
    return run


@pytest.fixture(scope="module")
def real_pt(fmnist_npz, classifier, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("features") / "real.pt"
    real_features(fmnist_npz, classifier, OPTIONS, path)
    return path


def scalars(metrics: dict) -> dict:
    timing = ("seconds", "cpu_seconds")
    return {k: v for k, v in metrics.items() if not any(k.endswith(t) for t in timing) and k != "eval_job_runs"}


def test_two_evaluations_of_a_stylegan_run_give_identical_metrics_with_mixed_fid_ppl_and_psi(
        fmnist_npz, classifier, real_pt, style_run, tmp_path):
    outs = [evaluate_run(style_run, fmnist_npz, OPTIONS, tmp_path / f"m{i}.json", real_pt, classifier, RUN_ID)
            for i in range(2)]
    first = outs[0]
    assert first["status"] == "ok", first["message"]
    for name in (*MIXED_FID_METRICS, "ppl", "ppl_w", "fid", "kid", "precision"):
        assert math.isfinite(first[name]) and name in score_registry(), name
    assert first["fid_mix1"] == first["fid"]  # one latent: ordinary sampling
    assert first["fid_mix4"] != first["fid_mix2"]
    assert first["ppl_similarity"] == (LPIPS if lpips_available() else CLASSIFIER_SIMILARITY)
    assert first["truncation_psi"] == 1.0 and first["evaluation"]["truncation_psi"] is None
    assert scalars(outs[1]) == scalars(first)  # noise inputs, mixing crossovers and PPL paths are all seeded
    truncated = evaluate_run(style_run, fmnist_npz, {**OPTIONS, "truncation_psi": 0.5}, tmp_path / "t.json",
                             real_pt, classifier, RUN_ID)
    assert truncated["truncation_psi"] == 0.5 and truncated["fid"] != first["fid"]
    assert truncated["ppl"] < first["ppl"]  # paths in a truncated w space are shorter
    assert truncated["ppl_w"] < first["ppl_w"]


def test_dcgan_runs_get_neither_mixed_fid_nor_ppl(fmnist_npz, classifier, real_pt, tmp_path):
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "dcgan", "width": 8}, "steps": 5,
                                         "checkpoint_every": 5, "log_every": 5, "snapshots": 1})
    train_run(settings, fmnist_npz, tmp_path / "run", 0, threads=1)
    out = evaluate_run(tmp_path / "run", fmnist_npz, OPTIONS, tmp_path / "m.json", real_pt, classifier, RUN_ID)
    assert out["status"] == "ok" and out["truncation_psi"] is None
    assert not any(k.startswith("fid_mix") or k.startswith("ppl") for k in out)


# ------------------------------------------------------------------------------------------- configs and report
CPU_CONFIG = REPO / "config/stylegan-ablation-cpu.yaml"
ROW_A = {"name": "stylegan", "ch_g": 16, "ch_d": 16, "mapping_layers": 0, "styles": False, "const_input": False,
         "noise": False, "mixing": 0.0, "resample": "nearest", "equalized_lr": True}
STYLED = {**ROW_A, "resample": "bilinear", "mapping_layers": 4, "w_dim": 64, "styles": True}
FLAT = {  # the CPU config's rows written out flat, as they would be without `extends`
    "A": {"architecture": ROW_A},
    "B": {"architecture": {**ROW_A, "resample": "bilinear"}, "tricks": {"r1": {"gamma": 1.0}}},
    "C": {"architecture": STYLED, "tricks": {"r1": {"gamma": 1.0}}},
    "D": {"architecture": {**STYLED, "const_input": True}, "tricks": {"r1": {"gamma": 1.0}}},
    "E": {"architecture": {**STYLED, "const_input": True, "noise": True}, "tricks": {"r1": {"gamma": 1.0}}},
    "F": {"architecture": {**STYLED, "const_input": True, "noise": True, "mixing": 0.9},
          "tricks": {"r1": {"gamma": 1.0}}},
    "mix50": {"architecture": {**STYLED, "const_input": True, "noise": True, "mixing": 0.5},
              "tricks": {"r1": {"gamma": 1.0}}},
    "mix100": {"architecture": {**STYLED, "const_input": True, "noise": True, "mixing": 1.0},
               "tricks": {"r1": {"gamma": 1.0}}},
}


def test_the_cpu_configs_extends_chain_equals_the_flat_config_written_out():
    chained = Config.load(CPU_CONFIG)
    raw = yaml.safe_load(CPU_CONFIG.read_text())
    raw["variants"] = [{"name": name, "label": chained.label(name), **delta} for name, delta in FLAT.items()]
    flat = Config(raw)
    assert chained.variant_names == flat.variant_names == list(FLAT)
    for name in FLAT:
        assert chained.settings(name) == flat.settings(name), name
    assert chained.settings("F")["tricks"] == {"minibatch_stddev": {"group_size": 4}, "ema": {"decay": 0.99},
                                                "r1": {"gamma": 1.0}}


def test_effective_settings_and_the_mixing_table_in_the_papers_layout():
    config = Config.load(CPU_CONFIG)
    rows = {r["variant"]: r for r in effective_settings(config)}
    assert rows["A"]["extends"] is None and rows["B"]["extends"] == "A"
    assert rows["B"]["changes"] == [("architecture.resample", "bilinear"), ("tricks.r1.gamma", "1.0")]
    assert rows["C"]["changes"] == [("architecture.mapping_layers", "4"), ("architecture.styles", "true"),
                                    ("architecture.w_dim", "64")]
    assert rows["F"]["changes"] == [("architecture.mixing", "0.9")]
    assert ("architecture.noise", "true", False) in rows["F"]["settings"]  # inherited from E, not changed by F
    values = {"E": 10.0, "mix50": 8.0, "F": 7.0, "mix100": 7.5}
    frame = pd.DataFrame([{"dataset": "fashion_mnist", "variant": v, "seed": s, "status": "ok", "kind": "image",
                           **{f"fid_mix{k}": base + k + 0.1 * s for k in range(1, 5)}}
                          for v, base in values.items() for s in range(5)])
    view = mixing_table(frame, config, ["fashion_mnist"], 200)
    (table,) = view["tables"]
    assert view["latents"] == [1, 2, 3, 4] and [r["variant"] for r in table["rows"]] == ["E", "mix50", "F", "mix100"]
    assert [r["mixing"] for r in table["rows"]] == [0.0, 50.0, 90.0, 100.0]
    f = table["rows"][2]
    assert f["cells"][3].mean == pytest.approx(7.0 + 3 + 0.2) and f["best"] == [1, 2, 3, 4]
    assert f["cells"][3].significant(0.05) and table["rows"][0]["cells"][3].comparison is None  # vs the first row


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory, fmnist_mirror) -> tuple[Path, Config]:
    """The CPU config's rows (A-F and the mixing rows) trained and evaluated by the real DAG, shortened: one seed,
    30 steps, 300 samples."""
    raw = yaml.safe_load(CPU_CONFIG.read_text())
    raw["seeds"] = [0]
    raw["datasets"] = {"fashion_mnist": {"mirrors": [fmnist_mirror], "train_limit": 2000, "test_limit": 500}}
    raw["defaults"].update({"steps": 30, "checkpoint_every": 15, "log_every": 15, "snapshots": 2, "batch_size": 16})
    raw["evaluation"].update({"num_samples": 300, "batch_size": 100, "kid_subset_size": 100, "kid_subsets": 5,
                              "memorization_samples": 100, "ppl_samples": 100,
                              "classifier": {"epochs": 1, "min_accuracy": 0.5}})
    work = tmp_path_factory.mktemp("chain")
    configfile = work / "chain.yaml"
    configfile.write_text(yaml.safe_dump(raw))
    proc = subprocess.run(snakemake_cmd("--directory", str(work), "--configfile", str(configfile), "--cores", "2"),
                          capture_output=True, text=True, env=env_with_venv(), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work, Config(raw)


def test_the_cpu_chain_trains_every_row_in_the_dag_and_the_report_shows_both_tables(chain_run):
    work, config = chain_run
    table = pd.read_csv(work / "results/metrics.csv").set_index("variant")
    assert list(table.index) == config.variant_names and (table["status"] == "ok").all()
    styled = ["C", "D", "E", "F", "mix50", "mix100"]
    for metric in ("fid", "ppl", "ppl_w", "truncation_psi"):
        assert table[metric].notna().all(), metric
    assert table.loc[styled, list(MIXED_FID_METRICS)].notna().all().all()
    assert table.loc[["A", "B"], list(MIXED_FID_METRICS)].isna().all().all()  # no styles: nothing to mix
    assert (table.loc[styled, "fid_mix1"] == table.loc[styled, "fid"]).all()
    assert set(table["ppl_similarity"]) == {LPIPS if lpips_available() else CLASSIFIER_SIMILARITY}
    for variant in config.variant_names:  # every row trained its own effective settings
        train = json.loads((work / "results/runs/fashion_mnist" / variant / "seed0/train.json").read_text())
        assert train["settings"]["architecture"] == config.settings(variant)["architecture"]
    html = (work / "results/report/index.html").read_text()
    assert 'data-metric="fid"' in html and 'data-metric="ppl"' in html and 'data-metric="ppl_w"' in html
    assert 'data-metric="fid_mix1"' not in html  # the mixed FIDs are one table, not four
    mixing = html[html.index('data-metric="fid_mix"'):]
    mixing = mixing[:mixing.index("</table>")]
    assert re.findall(r'data-variant="([^"]+)"', mixing) == ["E", "mix50", "F", "mix100"]
    assert re.findall(r'data-latents="(\d)"', mixing) == ["1", "2", "3", "4"]
    assert mixing.count("n=1") == 16
    settings = html[html.index('id="settings"'):]
    assert "<code>architecture.mixing: 0.9</code>" in settings and "<code>tricks.r1.gamma: 1.0</code>" in settings
    assert "perceptual path length measured with" in html
