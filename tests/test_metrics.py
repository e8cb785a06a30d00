"""Correctness of the evaluation metrics: closed forms, constructed sets, agreement with torch-fidelity, and the
domain classifier on real Fashion-MNIST (Debian's copy in /usr/share/datasets/fashion-mnist/).

Every test can fail: each compares against a value derived independently of the implementation (a closed form,
a hand count, torch-fidelity's own kernels, a sampling-noise bound).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from ganbench.config import SETTINGS_DEFAULTS, evaluation_defaults, merge
from ganbench.data import load_prepared, make_builder, prepare_dataset
from ganbench.data.base import Prepared
from ganbench.data.mixtures import Ring8
from ganbench.data.mnist import stacked_label
from ganbench.errors import ConfigError
from ganbench.io import read_json
from ganbench.metrics.classifier import (
    MaxPool2x2,
    classifier_data,
    joint_log_probs,
    load_classifier,
    save_classifier,
    stacked_digits,
    train_classifier,
)
from ganbench.metrics.conditional import balanced_labels, conditional_accuracy
from ganbench.metrics.critic import critic_estimate
from ganbench.metrics.evaluate import evaluate_run, real_features
from ganbench.metrics.extractors import CLASS_LOGITS, FID, PRC, Extractor, FeaturePipeline, check_options
from ganbench.metrics.fidelity import (
    class_coverage,
    fid_from_features,
    fidelity_metrics,
    inception_score,
    kid,
    real_caches,
)
from ganbench.metrics.manifold import knn_radii, prdc
from ganbench.metrics.memorization import memorization_ratio, nearest_distances
from ganbench.metrics.modes import mixture_metrics, stacked_mode_metrics
from ganbench.train.run import train_run

OPTIONS = dict(evaluation_defaults())


pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian(n: int, mean, cov, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).multivariate_normal(mean, cov, size=n))


def fid_closed_form(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


# ------------------------------------------------------------------------------------------------ FID
def test_fid_of_two_gaussians_matches_the_closed_form_within_sampling_noise():
    rng = np.random.default_rng(0)
    d = 4
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    mu1, mu2 = np.zeros(d), np.array([0.5, -0.3, 0.2, 0.0])
    s1, s2 = a @ a.T / d + 0.5 * np.eye(d), b @ b.T / d + 0.2 * np.eye(d)
    truth = fid_closed_form(mu1, s1, mu2, s2)
    estimates = np.array([fid_from_features(gaussian(20_000, mu1, s1, 2 * i), gaussian(20_000, mu2, s2, 2 * i + 1))
                          for i in range(8)])
    noise = estimates.std(ddof=1)
    assert truth > 20 * noise  # the comparison below is meaningful
    assert abs(estimates.mean() - truth) < 4 * noise / math.sqrt(len(estimates)) + 1e-3 * truth
    assert np.all(np.abs(estimates - truth) < 5 * noise)


def test_fid_is_zero_on_identical_sets_and_grows_with_a_mean_shift():
    x = gaussian(5000, np.zeros(8), np.eye(8), 0)
    assert abs(fid_from_features(x, x)) < 1e-6
    shifts = [0.0, 0.05, 0.1, 0.3, 1.0, 3.0]
    fids = [fid_from_features(x + c, x) for c in shifts]
    assert all(a < b for a, b in zip(fids, fids[1:]))
    # a pure shift by c·1 leaves the covariance: FID = ‖c·1‖² = 8c²
    assert fids == pytest.approx([8 * c * c for c in shifts], abs=1e-6)


def test_fid_and_inception_score_reproduce_torch_fidelity():
    gen = gaussian(3000, np.full(16, 0.2), 1.3 * np.eye(16), 1).float()
    real = gaussian(2500, np.zeros(16), np.eye(16), 2).float()
    ref = fid_statistics_to_metric(fid_features_to_statistics(gen.double()), fid_features_to_statistics(real.double()),
                                   verbose=False)["frechet_inception_distance"]
    assert fid_from_features(gen, real) == pytest.approx(ref, rel=1e-9)
    logits = gen[:, :10] * 3
    ref = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=11)
    ours = inception_score(logits, splits=10, seed=11)
    assert ours["is"] == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert ours["is_std"] == pytest.approx(ref["inception_score_std"], rel=1e-9)
    assert 1.0 < ours["is"] < 10.0


# ------------------------------------------------------------------------------------------------ KID
def test_kid_is_unbiased_on_equal_distributions_and_positive_on_different_ones():
    opts = {**OPTIONS, "kid_subsets": 100, "kid_subset_size": 1000, "seed": 3}
    x, y = (gaussian(4000, np.zeros(16), np.eye(16), s).float() for s in (1, 2))
    same = kid(x, y, opts)
    assert abs(same["kid"]) < same["kid_std"]  # the biased V-statistic would be ≈ +0.014 here, several std
    shifted = kid(x + 0.3, y, opts)
    assert shifted["kid"] > 10 * shifted["kid_std"]


def test_kid_equals_torch_fidelitys_and_its_cached_real_sums_are_used_only_when_they_fit():
    opts = {**OPTIONS, "kid_subsets": 40, "kid_subset_size": 300, "seed": 5}
    gen = gaussian(1500, np.full(32, 0.1), 1.2 * np.eye(32), 1).float().relu()
    real = gaussian(1200, np.zeros(32), np.eye(32), 2).float().relu()
    ref = kid_features_to_metric(gen, real, kid_subsets=40, kid_subset_size=300, rng_seed=5, verbose=False)
    caches = real_caches({"fid": real, "prc": real}, {**opts, "num_samples": len(gen)})
    cached = kid(gen, real, opts, caches["kid_real"])
    uncached = kid(gen, real, opts)
    # float32 kernels in both; the sums of ≈ 10⁵ kernel values ≈ 1 differ by rounding only
    assert cached["kid"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=2e-5, abs=1e-7)
    assert cached["kid_std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=2e-5, abs=1e-7)
    assert cached == uncached and cached["kid"] > 5 * cached["kid_std"] > 0
    # a real side cached for another generated count holds other subsets: it must not be used
    stale = real_caches({"fid": real, "prc": real}, {**opts, "num_samples": 1000})["kid_real"]
    assert not torch.equal(stale["sums"], caches["kid_real"]["sums"])
    assert kid(gen, real, opts, stale) == uncached
    # subsets larger than a sample set are capped at its size, as torch-fidelity requires
    small = kid(gen[:250], real, opts)
    ref_small = kid_features_to_metric(gen[:250], real, kid_subsets=40, kid_subset_size=250, rng_seed=5, verbose=False)
    assert small["kid"] == pytest.approx(ref_small["kernel_inception_distance_mean"], rel=2e-5, abs=1e-7)


# ------------------------------------------------------------------------------------- precision / recall
def density_coverage_reference(gen: torch.Tensor, real: torch.Tensor, k: int) -> dict[str, float]:
    """Density and coverage straight from Naeem et al.'s definitions, on the full distance matrices (no blocks, no
    cached radii): the oracle ``prdc`` is compared with."""
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values  # the real row itself is the nearest
    d = torch.cdist(gen, real)
    return {"density": int(torch.count_nonzero(d < radii[None, :])) / (k * len(gen)),
            "coverage": float((d.amin(0) < radii).float().mean())}


def test_precision_and_recall_are_one_on_identical_sets_and_zero_on_disjoint_ones():
    x = gaussian(1000, np.zeros(8), np.eye(8), 0).float()
    same = prdc(x, x.clone(), 3, 5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = prdc(x + 100.0, x, 3, 5)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    assert far["density"] == 0.0 and far["coverage"] == 0.0


def test_precision_recall_is_torch_fidelitys_and_non_trivial():
    gen = gaussian(1500, np.full(8, 0.4), 1.5 * np.eye(8), 1).float()
    real = gaussian(1200, np.zeros(8), np.eye(8), 2).float()
    ours = prdc(gen, real, 3, 5)
    ref = prc_features_to_metric(gen, real, prc_neighborhood=3, save_cpu_ram=True, verbose=False)
    assert 0.05 < ours["precision"] < 0.95 and 0.05 < ours["recall"] < 0.95  # a non-trivial case
    assert ours["precision"] == ref["precision"] and ours["recall"] == ref["recall"]


def features_with_duplicates_and_near_ties(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(generated 700 × 16, real 900 × 16): Gaussian features with rows repeated within and across the sets and
    generated samples a relative 1e-4 inside / outside real 3-NN balls."""
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(900, 16, generator=g)
    gen = torch.randn(700, 16, generator=g) * 1.2 + 0.3
    real[860:] = real[:40]  # 40 real rows twice
    real[100:103] = real[200]  # one real row k + 1 = 4 times: its 3-NN radius is the (rounded) distance to itself
    gen[:25] = real[300:325]  # generated copies of real rows ...
    gen[25:28] = real[200]  # ... of the 4-fold one too: inside its balls only because membership is `<=`
    gen[650:] = gen[600:650]  # 50 generated rows twice
    gen[100:104] = gen[500]  # one generated row 4 times
    idx = torch.arange(400, 440)
    radius = torch.cdist(real[idx], real).kthvalue(4).values
    direction = torch.nn.functional.normalize(torch.randn(40, 16, generator=g), dim=1)
    scale = torch.where(torch.arange(40) % 2 == 0, 1 - 1e-4, 1 + 1e-4)
    gen[200:240] = real[idx] + direction * (radius * scale)[:, None]
    return gen, real


def lattice_features(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(generated 700 × 8, real 900 × 8) on the integer grid {0, 1, 2}^8 (the generated first coordinate also takes
    3): every distance is the square root of a small integer, computed exactly whatever the argument order or
    block, so ties — between neighbours and on ball boundaries — are everywhere and exact."""
    g = torch.Generator().manual_seed(seed)
    real = torch.randint(0, 3, (900, 8), generator=g).float()
    gen = torch.randint(0, 3, (700, 8), generator=g).float()
    gen[:, 0] = torch.randint(0, 4, (700,), generator=g).float()
    return gen, real


TIE_SETS = {"duplicates_and_near_ties": features_with_duplicates_and_near_ties, "lattice": lattice_features}


@pytest.mark.parametrize("name", TIE_SETS)
def test_knn_radii_are_torch_fidelitys_kthvalue_with_duplicated_and_tied_rows(name):
    for x in TIE_SETS[name](0):
        full = torch.cdist(x, x)  # torch-fidelity's real×real (or generated×generated) distances, one batch
        for block in (128, 4096):
            radii = knn_radii(x, [3, 5], block=block)
            for k in (3, 5):
                assert torch.equal(radii[k], full.kthvalue(k + 1).values), (block, k)


@pytest.mark.parametrize("name", TIE_SETS)
def test_prdc_precision_and_recall_equal_torch_fidelitys_with_duplicates_and_ties(name):
    gen, real = TIE_SETS[name](0)
    ref = prc_features_to_metric(gen, real, prc_neighborhood=3, save_cpu_ram=True, verbose=False)
    cached = knn_radii(real, [3, 5])
    runs = [prdc(gen, real, 3, 5), prdc(gen, real, 3, 5, block=128), prdc(gen, real, 3, 5, cached, block=128),
            prdc(gen, real, 3, 5, {5: cached[5]}, block=256),  # a cache without the precision/recall radii
            {**prdc(gen, real, 3, 3), "density": None, "coverage": None}]  # one k for both
    for out in runs:
        assert out["precision"] == ref["precision"] and out["recall"] == ref["recall"]
    assert runs[1] == runs[2] == runs[3] == runs[0]  # blocks and cached radii change nothing
    assert 0.3 < ref["precision"] < 0.97 and 0.7 < ref["recall"] < 1.0
    # the data does test `<=`: generated samples lie exactly on real ball boundaries, and strict balls would give
    # a different precision
    d = torch.cdist(gen, real)
    assert (d == cached[3]).any()
    assert (d < cached[3]).any(1).float().mean().item() < ref["precision"]


@pytest.mark.parametrize("name", TIE_SETS)
def test_prdc_density_and_coverage_equal_the_definitions(name):
    gen, real = TIE_SETS[name](1)
    ref = density_coverage_reference(gen, real, 5)
    assert 0.05 < ref["coverage"] < 0.95
    for out in (prdc(gen, real, 3, 5), prdc(gen, real, 3, 5, block=100),
                prdc(gen, real, 3, 5, knn_radii(real, [3, 5]), block=100)):
        assert out["density"] == ref["density"] and out["coverage"] == ref["coverage"]
    gauss_gen = gaussian(2500, np.full(8, 0.3), np.eye(8), 1).float()
    gauss_real = gaussian(3000, np.zeros(8), np.eye(8), 2).float()
    ref = density_coverage_reference(gauss_gen, gauss_real, 5)
    for out in (prdc(gauss_gen, gauss_real, 3, 5), prdc(gauss_gen, gauss_real, 3, 5, block=512)):
        assert out["density"] == ref["density"] and out["coverage"] == ref["coverage"]


def test_real_caches_hold_both_radii_and_a_real_file_without_precision_recall_radii_still_works():
    gen_prc, real_prc = features_with_duplicates_and_near_ties(2)
    logits = torch.randn(1600, 10, generator=torch.Generator().manual_seed(3))
    gen = {"fid": gen_prc, "isc": logits[:700], "prc": gen_prc}
    real = {"fid": real_prc, "isc": logits[700:], "prc": real_prc}
    opts = {**OPTIONS, "kid_subsets": 10, "kid_subset_size": 200}
    caches = real_caches(real, opts)
    k, k_dc = opts["prc_neighborhood"], opts["dc_neighborhood"]
    assert set(caches["prc_radii"]) == {k} and set(caches["dc_radii"]) == {k_dc}
    full = torch.cdist(real_prc, real_prc)
    assert torch.equal(caches["prc_radii"][k], full.kthvalue(k + 1).values)
    assert torch.equal(caches["dc_radii"][k_dc], full.kthvalue(k_dc + 1).values)
    new = fidelity_metrics(gen, {**real, **caches}, opts)
    old_file = fidelity_metrics(gen, {**real, "fid_stats": caches["fid_stats"], "dc_radii": caches["dc_radii"]}, opts)
    uncached = fidelity_metrics(gen, real, opts)
    assert new == old_file == uncached
    ref = prc_features_to_metric(gen_prc, real_prc, prc_neighborhood=k, save_cpu_ram=True, verbose=False)
    assert new["precision"] == ref["precision"] and new["recall"] == ref["recall"]
    assert {key: new[key] for key in ("density", "coverage")} == density_coverage_reference(gen_prc, real_prc, k_dc)


# ------------------------------------------------------------------------------------- density / coverage
def test_density_and_coverage_on_a_constructed_grid():
    real = torch.arange(100, dtype=torch.float32)[:, None]  # 1-D grid 0…99: interior 5-NN radius is 3
    assert knn_radii(real, [5])[5][5:95].eq(3).all()
    # (generated samples in fours: prdc also needs their own 3-NN radii, for recall)
    one = prdc(torch.full((4, 1), 50.0), real, 3, 5)
    assert one["density"] == pytest.approx(5 / 5)  # inside the balls of 48…52 (strictly closer than 3)
    assert one["coverage"] == pytest.approx(5 / 100)
    between = prdc(torch.full((4, 1), 50.5), real, 3, 5)
    assert between["density"] == pytest.approx(6 / 5)  # balls of 48…53: density can exceed 1
    collapsed = prdc(torch.full((40, 1), 50.0), real, 3, 5)  # mode collapse: every sample at 50
    assert collapsed["density"] == pytest.approx(1.0) and collapsed["precision"] == 1.0
    assert collapsed["coverage"] == pytest.approx(0.05)  # coverage sees the collapse


def test_density_is_near_one_and_coverage_high_for_samples_of_the_same_distribution():
    real = gaussian(3000, np.zeros(4), np.eye(4), 0).float()
    gen = gaussian(3000, np.zeros(4), np.eye(4), 1).float()
    out = prdc(gen, real, 3, 5)
    assert 0.9 < out["density"] < 1.1
    assert out["coverage"] > 0.95  # 1 − (1/2)^5 ≈ 0.97 expected for k = 5 and M = N


# ------------------------------------------------------------------------------------------ mixtures
def test_mixture_mode_counts_and_high_quality_percentage_on_hand_built_samples():
    centers, sigma = Ring8.centers(), Ring8.sigma
    radial = centers[0] / np.linalg.norm(centers[0])  # from the origin through mode 0
    points = np.concatenate([
        np.repeat(centers[:1], 4, 0),  # 4 exactly on mode 0
        centers[1:3],  # 1 each on modes 1 and 2
        centers[:1] + 2.9 * sigma * radial,  # within 3σ of mode 0: high quality
        centers[:1] + 3.1 * sigma * radial,  # just outside: not
        np.zeros((2, 2)),  # the centre of the ring: far from every mode
    ])
    out = mixture_metrics(points, centers, sigma)
    assert out["modes"] == 3
    assert out["hq_percent"] == pytest.approx(100 * 7 / 10)
    p = np.array([5, 1, 1]) / 7  # high-quality samples per captured mode; 5 modes empty
    assert out["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(p * 8))))
    assert mixture_metrics(points, centers, sigma, min_count=2)["modes"] == 1


def test_modes_reached_need_a_share_of_the_samples_and_counts_back_every_mode():
    centers, sigma = Ring8.centers(), Ring8.sigma
    counts = [1000, 500, 32, 31, 1, 0, 0, 0]  # high-quality samples per mode; 936 more far from every mode
    points = np.concatenate([np.repeat(centers[i:i + 1], c, 0) for i, c in enumerate(counts)] + [np.zeros((936, 2))])
    assert len(points) == 2500
    out = mixture_metrics(points, centers, sigma)  # default share 0.1 of 2500 / 8 = 31.25: 32 samples
    assert out["mode_counts"] == counts and out["mode_min_samples"] == 32
    assert out["modes"] == 5  # the published count: mode 4 is "captured" by one sample
    assert out["modes_reached"] == 3
    assert mixture_metrics(points, centers, sigma, min_share=0.0124)["modes_reached"] == 4  # 31 samples suffice
    assert mixture_metrics(points, centers, sigma, min_share=1e-6)["modes_reached"] == 5  # never below 1 sample
    labels = np.concatenate([np.full(499, c) for c in range(9)] + [np.array([9])])  # one "trouser" of 4492
    classes = class_coverage(labels, 10)
    assert classes["classes_covered"] == 10 and classes["classes_reached"] == 9
    assert classes["class_counts"] == [499] * 9 + [1] and classes["class_min_samples"] == 45
    stacked = stacked_mode_metrics(np.array([314] * 2990 + [0] * 2 + [7] * 8), 1000, min_share=1.0)
    assert stacked["stacked_modes"] == 3 and stacked["stacked_modes_reached"] == 2  # ≥ 1 · 3000 / 1000 samples
    assert stacked["stacked_min_samples"] == 3 and sum(stacked["stacked_counts"]) == 3000


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_a_uniform_cloud_does_not_cover_every_mode_under_the_protocol(repo, name):
    """A structureless generator (uniform over the mixture's bounding box, 3σ margin) under the evaluation that
    config/modes.yaml runs: 2500 samples (PacGAN / VEEGAN), not the 26 000 it once drew for every dataset."""
    from ganbench.config import Config
    from ganbench.data import DATASETS
    from ganbench.metrics.evaluate import sample_total

    config = Config.load(repo / "config" / "modes.yaml")
    cls = DATASETS.get(name)
    centers, sigma = cls.centers(), cls.sigma
    shell = Prepared(*(np.empty(0),) * 4, meta={"kind": "points", "shape": [2], "num_classes": len(centers)})
    n = sample_total(shell, config.evaluation)
    stacked = Prepared(*(np.empty(0),) * 4, meta={"kind": "image", "base_dataset": "fashion_mnist"})
    assert (n, sample_total(stacked, config.evaluation)) == (2500, 26_000)
    lo, hi = centers.min(0) - 3 * sigma, centers.max(0) + 3 * sigma
    rng = np.random.default_rng(0)

    def clouds(size: int, repeats: int = 100) -> list[dict]:
        return [mixture_metrics(rng.uniform(lo, hi, size=(size, 2)), centers, sigma,
                                min_share=config.evaluation["mode_min_share"]) for _ in range(repeats)]

    protocol = clouds(n)
    k = len(centers)
    # the published count: a cloud still lands single samples in most modes, but rarely in every one
    assert np.mean([m["modes"] == k for m in protocol]) < 0.3
    assert np.mean([m["modes"] for m in protocol]) < k - 0.5
    assert max(m["hq_percent"] for m in protocol) < 4  # 0.5 % (ring8), 2.6 % (grid25) of the box lies within 3σ
    # the share measure: no mode holds 10 % of a uniform share
    assert np.mean([m["modes_reached"] for m in protocol]) < 0.1
    # what the fix is about: with 26 000 samples the same cloud "captures" every mode
    assert np.mean([m["modes"] == k for m in clouds(26_000, 20)]) > 0.9


@pytest.mark.parametrize("key, value, message", [
    ("mixture_samples", 0, r"^evaluation\.mixture_samples: 0 is less than the minimum of 1"),
    ("mixture_samples", 2.5, r"^evaluation\.mixture_samples: 2\.5 is not of type 'integer'"),
    ("mode_min_share", 0, r"^evaluation\.mode_min_share: 0 is less than or equal to the minimum of 0"),
    ("mode_min_share", 1.5, r"^evaluation\.mode_min_share: 1\.5 is greater than the maximum of 1"),
])
def test_mixture_sample_count_and_mode_share_are_validated(repo, key, value, message):
    import yaml

    from ganbench.config import Config

    raw = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    raw["evaluation"][key] = value
    with pytest.raises(ConfigError, match=message):
        Config(raw)


# ------------------------------------------------------------------------------------------ stacked
def test_stacked_label_from_three_known_digits_and_back():
    digits = np.array([[3, 1, 4], [0, 0, 0], [9, 9, 9], [0, 5, 7]])
    labels = stacked_label(digits)
    assert labels.tolist() == [314, 0, 999, 57]
    assert stacked_digits(labels).tolist() == digits.tolist()
    # the per-channel classifier's joint 1000-way log-probabilities put the mode at the same index
    logits = [torch.nn.functional.one_hot(torch.from_numpy(digits[:, c]), 10).float() * 20 for c in range(3)]
    joint = joint_log_probs(logits)
    assert joint.shape == (4, 1000)
    assert joint.argmax(1).tolist() == [314, 0, 999, 57]
    assert torch.exp(joint).sum(1) == pytest.approx(torch.ones(4), abs=1e-5)


def test_stacked_mode_counts_and_kl():
    labels = np.array([314] * 5 + [0] * 5)
    out = stacked_mode_metrics(labels, 1000)
    assert out["stacked_modes"] == 2
    assert out["stacked_kl"] == pytest.approx(math.log(500))  # two equal modes of 1000: log(1000/2)
    uniform = stacked_mode_metrics(np.arange(1000), 1000)
    assert uniform["stacked_modes"] == 1000 and uniform["stacked_kl"] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------ classifier on real data
@pytest.fixture(scope="module")
def fashion(tmp_path_factory, fmnist_mirror, fmnist_cache) -> Path:
    path = tmp_path_factory.mktemp("fashion") / "fashion_mnist.npz"  # all of it: one epoch of the train split
    prepare_dataset(make_builder("fashion_mnist", {"mirrors": [fmnist_mirror]}), path, fmnist_cache)
    return path


@pytest.fixture(scope="module")
def classifier(fashion, tmp_path_factory) -> tuple[Path, dict]:
    data = load_prepared(fashion)
    arrays, num_classes, _ = classifier_data(data)
    model, info = train_classifier(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                                   num_classes, evaluation_defaults()["classifier"])
    path = tmp_path_factory.mktemp("classifier") / "model.pt"
    save_classifier(model, path)
    return path, info


def test_domain_classifier_reaches_the_accuracy_floor_on_fashion_mnist(classifier):
    _, info = classifier
    assert info["test_accuracy"] >= evaluation_defaults()["classifier"]["min_accuracy"]  # 0.8
    assert info["steps"] == round(60_000 / 128)  # one epoch of the full train split


@pytest.mark.parametrize("shape", [(3, 16, 28, 28), (2, 4, 7, 9)])
def test_inference_pooling_is_max_pool2d_and_training_keeps_its_gradient(shape):
    x = torch.randn(shape)
    x[0, 0, :4, :4] = 0.25  # a tied window
    pool = MaxPool2x2()
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.contiguous(memory_format=layout)
        with torch.no_grad():
            assert torch.equal(pool(xl), torch.nn.functional.max_pool2d(xl, 2))
    x.requires_grad_(True)
    pool(x).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    torch.nn.functional.max_pool2d(x, 2).sum().backward()
    assert torch.equal(ours, x.grad) and ours[0, 0, :2, :2].sum() == 1  # one element of the tied window


def test_stacked_images_are_classified_per_channel(fashion, classifier):
    data = load_prepared(fashion)
    model = load_classifier(classifier[0])
    picks = np.random.default_rng(0).integers(0, len(data.x_test), size=(300, 3))
    stacked = torch.from_numpy(data.x_test[picks, 0])  # 300 × 3 × 28 × 28, as Stacked Fashion-MNIST builds them
    per_image = model.infer(torch.from_numpy(data.x_test))[1].argmax(1).numpy()
    feats, joint = model.infer(stacked)
    assert feats.shape == (300, 3 * 128) and joint.shape == (300, 1000)
    assert joint.argmax(1).numpy().tolist() == stacked_label(per_image[picks]).tolist()
    accuracy = (joint.argmax(1).numpy() == stacked_label(data.y_test[picks])).mean()
    assert accuracy > 0.8**3 - 0.1  # three channels, each right with the base accuracy


def test_stacked_split_recovers_distinct_base_images_with_their_labels(fashion):
    data = load_prepared(fashion)
    picks = np.random.default_rng(1).integers(0, 2000, size=(1500, 3))  # many repeats among 2000 base images
    stacked = Prepared(data.x_train[picks, 0], stacked_label(data.y_train[picks]),
                       data.x_test[picks[:10], 0], stacked_label(data.y_test[picks[:10]]),
                       {"name": "s", "kind": "image", "shape": [3, 28, 28], "num_classes": 1000,
                        "base_dataset": "fashion_mnist"})
    arrays, num_classes, about = classifier_data(stacked)
    assert num_classes == 10 and about["per_channel"]
    x, y = arrays["x_train"].numpy(), arrays["y_train"].numpy()
    assert x.shape[1:] == (1, 28, 28)
    assert len(x) == len(np.unique(picks))  # each distinct base image once
    lookup = {data.x_train[i].tobytes(): data.y_train[i] for i in np.unique(picks)}
    assert all(lookup[img.tobytes()] == label for img, label in zip(x, y))


FLOOR_OPTIONS = {**OPTIONS, "num_samples": 2000, "kid_subset_size": 1000, "memorization_samples": 1000}


@pytest.fixture(scope="module")
def real_side(fashion, classifier, tmp_path_factory) -> tuple[Path, dict, dict]:
    """real.pt, real_features' record and floor.json's metrics for Fashion-MNIST with 2000 samples."""
    folder = tmp_path_factory.mktemp("features")
    info = real_features(fashion, classifier[0], FLOOR_OPTIONS, folder / "real.pt", folder / "floor.json")
    return folder / "real.pt", info, read_json(folder / "floor.json")["metrics"]


def test_real_vs_real_floor_is_far_below_noise_and_covers_every_metric(classifier, real_side):
    real_path, info, floor = real_side
    assert info["num_samples"] == 2000 and info["seed"] == FLOOR_OPTIONS["seed"] and info["split"] == "test"
    for name in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "classes_covered", "class_kl",
                 "memorization_ratio"):
        assert name in floor and math.isfinite(floor[name]), name
    real = torch.load(real_path, weights_only=True)
    pipe = FeaturePipeline.build(FLOOR_OPTIONS, classifier[0], torch.device("cpu"))
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, size=(2000, 1, 28, 28), dtype=np.uint8))
    noise_fid = fid_from_features(pipe(noise.split(500), roles=[FID])[FID], real[FID])
    assert floor["fid"] < noise_fid / 50
    assert floor["precision"] > 0.8 and floor["recall"] > 0.8 and floor["coverage"] > 0.9
    assert 0.8 < floor["density"] < 1.2
    assert 0.9 < floor["memorization_ratio"] < 1.1  # two held-out subsets: ≈ 1 up to noise
    assert floor["classes_covered"] == 10 and floor["class_kl"] < 0.05


def test_evaluating_an_image_run_records_every_metric_with_its_settings(fashion, classifier, real_side, tmp_path):
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "steps": 20,
                                         "checkpoint_every": 10, "log_every": 10, "snapshots": 2})
    train_run(settings, fashion, tmp_path / "run", seed=0, threads=1)
    out = evaluate_run(tmp_path / "run", fashion, FLOOR_OPTIONS, tmp_path / "metrics.json", real_side[0],
                       classifier[0], {"dataset": "fashion_mnist", "variant": "v", "seed": 0})
    for name in ("fid", "fid_best", "kid", "is", "precision", "recall", "density", "coverage", "classes_covered",
                 "class_kl", "memorization_ratio"):
        assert math.isfinite(out[name]), name
    assert "wasserstein" not in out and "stacked_modes" not in out  # not a WGAN, not a stacked dataset
    curve = out["fid_curve"]
    assert [c["step"] for c in curve] == [10, 20] and out["fid_best"] == min(c["fid"] for c in curve)
    assert out["fid"] > 20 * real_side[2]["fid"]  # 20 steps of training are far from the data
    assert (out["num_samples"], out["eval_seed"], out["real_split"]) == (2000, FLOOR_OPTIONS["seed"], "test")
    assert out["evaluation"] == FLOOR_OPTIONS and read_json(tmp_path / "metrics.json")["fid"] == out["fid"]


def test_memorization_ratio_flags_copies_of_training_data():
    train = gaussian(5000, np.zeros(16), np.eye(16), 0).float()
    heldout = gaussian(500, np.zeros(16), np.eye(16), 1).float()
    assert torch.allclose(nearest_distances(heldout, train), torch.cdist(heldout, train).min(1).values, atol=1e-4)
    reference = float(nearest_distances(heldout, train).median())
    fresh = memorization_ratio(gaussian(500, np.zeros(16), np.eye(16), 2).float(), train, reference)
    copies = memorization_ratio(train[:500] + 0.01, train, reference)
    assert 0.9 < fresh["memorization_ratio"] < 1.1
    assert copies["memorization_ratio"] < 0.05


# ---------------------------------------------------------------------------------- inception / vgg16
def test_inception_and_vgg16_need_weights_files_given_or_downloaded():
    # without a local file the pipeline downloads the weights (ganbench.weights, tests/test_weights.py); an
    # extractor built without any file names the key of the local-file alternative
    check_options({**OPTIONS, "feature_extractor": "inception-v3-compat"})
    with pytest.raises(ConfigError, match=r"^evaluation.feature_extractor_weights: .*download-weights"):
        Extractor("inception-v3-compat", None, torch.device("cpu"))
    with pytest.raises(ConfigError, match="does not exist"):
        check_options({**OPTIONS, "feature_extractor": "inception-v3-compat",
                       "feature_extractor_weights": "/nonexistent/pt_inception-2015-12-05.pth"})
    with pytest.raises(ConfigError, match="prc_feature_extractor_weights"):
        check_options({**OPTIONS, "prc_feature_extractor_weights": "/nonexistent/vgg16.pth"})
    with pytest.raises(ConfigError, match="feature_extractor: unknown"):
        check_options({**OPTIONS, "feature_extractor": "inception"})


def test_inception_path_runs_from_a_local_weights_file(tmp_path, monkeypatch):
    """The real weights cannot be downloaded here; a randomly initialised network of the same architecture, saved
    to a file, exercises everything else: loading by path, layer names, grey→RGB, output shapes."""
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    class Untrained(inception.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
    weights = tmp_path / "inception.pt"
    torch.save(Untrained("inception-v3-compat", ["2048"]).state_dict(), weights)
    monkeypatch.undo()
    opts = {**OPTIONS, "feature_extractor": "inception-v3-compat", "feature_extractor_weights": str(weights)}
    check_options(opts)
    pipe = FeaturePipeline.build(opts, None, torch.device("cpu"))
    out = pipe([torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)])
    assert out[FID].shape == (3, 2048) and out["isc"].shape == (3, 1008)
    assert torch.equal(out[PRC], out[FID]) and CLASS_LOGITS not in out  # no VGG16 weights, no classifier
    with pytest.raises(ConfigError, match="weights"):
        Extractor("vgg16", None, torch.device("cpu"))


# ------------------------------------------------------------------------------------- conditional hook
def test_conditional_accuracy_hook():
    class ByBrightness:
        """Stands in for the domain classifier: class = mean pixel / 20."""

        @staticmethod
        def infer(images):
            cls = (images.float().mean((1, 2, 3)) / 20).round().long()
            return None, torch.nn.functional.one_hot(cls, 10).float()

    def faithful(z, y):
        return (y.float() * 20 / 127.5 - 1)[:, None, None, None].expand(-1, 1, 28, 28)

    labels = balanced_labels(100, 10)
    assert torch.bincount(labels).tolist() == [10] * 10
    assert conditional_accuracy(faithful, labels, ByBrightness(), z_dim=4) == 1.0
    assert conditional_accuracy(lambda z, y: faithful(z, (y + 1) % 10), labels, ByBrightness(), z_dim=4) == 0.0


# ------------------------------------------------------------------------------------ Wasserstein critic
def test_wasserstein_estimate_uses_the_final_critic_on_held_out_data(ring8_npz, tmp_path):
    from ganbench.models import ARCHITECTURES
    from ganbench.train.trainer import to_model_space

    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "loss": {"name": "wgan-gp"},
                                         "steps": 30, "d_steps": 2, "checkpoint_every": 20, "log_every": 10,
                                         "snapshots": 1})
    run = tmp_path / "run"
    train_run(settings, ring8_npz, run, seed=0, threads=1)
    data = load_prepared(ring8_npz)
    opts = {**OPTIONS, "num_samples": 640, "seed": 5}
    out = critic_estimate(run, data, settings, opts, torch.device("cpu"))
    assert out["wasserstein_step"] == 30 and out["wasserstein_samples"] == 640
    # independently: the checkpoint's D and G in fresh networks, the same test samples and latents
    state = torch.load(sorted((run / "ckpt").glob("step*.pt"))[-1], weights_only=True)["gan"]
    family = ARCHITECTURES.get("mlp")(data.shape, data.kind, 64, data.num_classes, {"hidden": 32}, "a")
    D, G = family.discriminator(), family.generator()
    D.load_state_dict((state["Ds"] if "Ds" in state else [state["D"]])[0])
    G.load_state_dict(state["G"])
    idx = np.sort(np.random.default_rng(5).permutation(len(data.x_test))[:640])
    latents = torch.Generator().manual_seed(5)
    z = torch.cat([torch.randn(64, 64, generator=latents) for _ in range(10)])  # ten batches of 64, in order
    with torch.no_grad():
        expected = D(to_model_space(torch.from_numpy(data.x_test[idx]))).mean() - D(G(z)).mean()
    assert out["wasserstein"] == pytest.approx(float(expected), rel=1e-4, abs=1e-6)
    assert math.isfinite(out["critic_gap_train"])
    metrics = evaluate_run(run, ring8_npz, opts, tmp_path / "metrics.json")
    assert metrics["wasserstein"] == pytest.approx(out["wasserstein"])
    assert {"modes", "hq_percent", "reverse_kl", "num_samples", "eval_seed", "real_split"} <= set(metrics)


# ------------------------------------------------------------------------------------ 2-D mixtures: evaluation
def test_mixture_runs_are_evaluated_on_the_protocols_sample_count_at_every_snapshot(ring8_npz, tmp_path):
    from ganbench.metrics.evaluate import generate, load_generator

    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "steps": 40,
                                         "checkpoint_every": 20, "log_every": 10, "snapshots": 4})
    run = tmp_path / "run"
    train_run(settings, ring8_npz, run, seed=0, threads=1)
    opts = {**OPTIONS, "num_samples": 640, "mixture_samples": 1500, "mode_min_share": 0.05}
    out = evaluate_run(run, ring8_npz, opts, tmp_path / "metrics.json")
    assert out["mixture_samples"] == 1500 and out["mode_min_share"] == 0.05  # not num_samples
    assert sum(out["mode_counts"]) == round(out["hq_percent"] * 1500 / 100)
    assert out["mode_min_samples"] == math.ceil(0.05 * 1500 / 8)
    curve = out["mode_curve"]
    assert [c["step"] for c in curve] == [10, 20, 30, 40]
    assert curve[-1] == {k: out[k] for k in ("modes", "modes_reached", "hq_percent", "mode_counts")} | {"step": 40}
    # a snapshot's point, independently: its weights, the evaluation's noise and count
    data = load_prepared(ring8_npz)
    net, z_dim = load_generator(run, data, torch.device("cpu"), run / "snapshots" / "step00000020.pt")
    points = torch.cat(list(generate(net, z_dim, 1500, opts["batch_size"], opts["seed"], torch.device("cpu"))))
    expected = mixture_metrics(points.numpy(), np.asarray(data.meta["centers"]), data.meta["sigma"], min_share=0.05)
    assert curve[1]["mode_counts"] == expected["mode_counts"] and curve[1]["hq_percent"] == expected["hq_percent"]


# ------------------------------------------------------------------------- classification accuracy score (CAS)
def test_cas_rewards_generators_whose_samples_teach_the_classes(fashion):
    """An oracle generator that returns real training images of the requested class teaches the classifier as well
    as real data; one that ignores its labels teaches it nothing (≈ chance)."""
    from ganbench.metrics.cas import generated_training_set, test_accuracy

    data = load_prepared(fashion)
    by_class = [torch.from_numpy(data.x_train[data.y_train == k][:200]).float() / 127.5 - 1 for k in range(10)]
    drawn = {"n": 0}

    def oracle(z, y):
        drawn["n"] += len(y)
        return torch.stack([by_class[int(k)][(i + drawn["n"]) % 200] for i, k in enumerate(y)])

    def ignores_labels(z, y):
        return torch.stack([by_class[0][i % 200] for i in range(len(y))])

    options = {**evaluation_defaults()["cas"], "samples": 2000, "epochs": 2}
    good = test_accuracy(*generated_training_set(oracle, 8, 2000, 10, 500, 0, torch.device("cpu")), data, options)
    bad = test_accuracy(*generated_training_set(ignores_labels, 8, 2000, 10, 500, 0, torch.device("cpu")), data,
                        options)
    assert good > 0.6 and bad < 0.2


def test_cas_of_a_conditional_run_and_its_real_data_row(fashion, classifier, real_side, tmp_path):
    floor = real_side[2]
    assert floor["cas_samples"] == evaluation_defaults()["cas"]["samples"] and floor["cas"] > 0.7  # real data teaches
    options = merge(FLOOR_OPTIONS, {"cas": {"samples": 1000, "epochs": 1}})
    outs = {}
    for mode in ("none", "concat"):
        settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 32}, "steps": 20,
                                             "checkpoint_every": 20, "log_every": 10, "snapshots": 1,
                                             "conditional": mode})
        train_run(settings, fashion, tmp_path / mode, seed=0, threads=1)
        outs[mode] = evaluate_run(tmp_path / mode, fashion, options, tmp_path / f"{mode}.json", real_side[0],
                                  classifier[0])
    assert "cas" not in outs["none"]  # unconditional: no labels to ask for
    out = outs["concat"]
    assert out["status"] == "ok" and out["cas_samples"] == 1000
    assert 0.0 <= out["cas"] < floor["cas"]  # 20 steps of training: far below real data
    assert read_json(tmp_path / "concat.json")["cas"] == out["cas"]
