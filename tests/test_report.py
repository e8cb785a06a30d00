"""The benchmark report: its statistics against hand-computed values, the HTML it writes from a small synthetic
results tree (escaping, diverged runs, a metric no run produced), and the page as Chromium renders it.

The results tree is written directly (metrics.csv, run folders with log.csv, samples.png, metrics.json,
train.json, generator.pt and a checkpoint, the prepared data, the floor and classifier records), with small
made-up numbers and real (untrained) networks, so the report is built in seconds without running the pipeline.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from ganbench.config import Config
from ganbench.io import torch_save, write_json
from ganbench.report import stats
from ganbench.report.build import build_report
from ganbench.report.tables import build_table

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

XSS = "<script>alert(1)</script>"
SEEDS = [0, 1, 2, 3]
IMAGE, POINTS = "fashion_mnist", "ring8"
SHAPE = (1, 28, 28)
NAN = math.nan

# Per variant and seed: status and the made-up final FID. "xss" (label XSS) has one diverged seed that still carries
# a finite FID of 1.0: were it averaged in, its mean would be 6.25 instead of 8. "boom" diverges on every seed.
STATUS = {"base": ["ok"] * 4, "xss": ["ok", "ok", "ok", "diverged"], "boom": ["diverged"] * 4}
FID = {"base": [10.0, 12.0, 14.0, 16.0], "xss": [8.0, 9.0, 7.0, 1.0], "boom": [NAN] * 4}
PRECISION = {"base": [0.5, 0.6, 0.7, 0.8], "xss": [0.9, 0.8, 0.7, 1.0], "boom": [NAN] * 4}
MODES = {"base": [2.0, 3.0, 4.0, 3.0], "xss": [6.0, 8.0, 7.0, 0.0], "boom": [NAN] * 4}

RAW_CONFIG = {
    "title": "report test",
    "seeds": SEEDS,
    "datasets": {IMAGE: {}, POINTS: {}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 8, "steps": 40},
    "variants": [
        {"name": "base", "label": "A  baseline"},
        {"name": "xss", "label": XSS, "loss": "minimax"},
        {"name": "boom", "label": "C  always diverges", "loss": "minimax"},
    ],
    "report": {"bootstrap": 500},
}


# ---------------------------------------------------------------------------------------------- the table
def metrics_frame(all_diverged: bool = False) -> pd.DataFrame:
    """metrics.csv as the aggregate step writes it: one row per run, image metrics NaN for the 2-D mixture and
    the other way round. ``all_diverged``: every run diverged and has no metric at all."""
    rows = []
    for variant, statuses in STATUS.items():
        for i, seed in enumerate(SEEDS):
            status = "diverged" if all_diverged else statuses[i]
            fid = NAN if all_diverged else FID[variant][i]
            common = {"variant": variant, "seed": seed, "status": status, "steps": 40 if status == "ok" else 25,
                      "setup_seconds": 1.0, "train_seconds": 4.0, "total_train_job_seconds": 6.0,
                      "eval_seconds": 2.0, "images_per_second": 1000.0 + seed, "device": "cpu:1 threads",
                      "message": "" if status == "ok" else "loss is NaN at step 25"}
            rows.append({"dataset": IMAGE, **common, "kind": "image", "fid": fid, "fid_best": fid - 0.5,
                         "kid": fid / 1000, "is": 2.0 + seed / 10, "recall": 0.5,
                         "precision": NAN if all_diverged else PRECISION[variant][i],
                         "classes_covered": 10.0, "class_kl": 0.1 + seed / 100, "modes": NAN, "hq_percent": NAN,
                         "reverse_kl": NAN})
            rows.append({"dataset": POINTS, **common, "kind": "points", "fid": NAN, "fid_best": NAN, "kid": NAN,
                         "is": NAN, "precision": NAN, "recall": NAN, "classes_covered": NAN, "class_kl": NAN,
                         "modes": NAN if all_diverged else MODES[variant][i],
                         "hq_percent": NAN if all_diverged else 50.0 + i, "reverse_kl": NAN})
    return pd.DataFrame(rows)


VARIANTS = [("base", "A  baseline"), ("xss", XSS), ("boom", "C  always diverges")]


def exact_bootstrap_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the exact bootstrap distribution of the mean (all n^n equally likely
    resamples): the smallest means whose cumulative probability reaches (1 - level)/2 and (1 + level)/2."""
    means = sorted(sum(s) / len(values) for s in itertools.product(values, repeat=len(values)))

    def quantile(q: float) -> float:
        return means[math.ceil(q * len(means) - 1e-9) - 1]

    return quantile((1 - level) / 2), quantile((1 + level) / 2)


def welch_by_hand(a: list[float], b: list[float]) -> float:
    """Two-sided Welch t-test from its formulas: t, Welch–Satterthwaite degrees of freedom, Student's t tail."""
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    t = (ma - mb) / math.sqrt(se2)
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return 2 * float(sps.t.sf(abs(t), df))


def permutation_by_hand(a: list[float], b: list[float]) -> Fraction:
    """Two-sided exact permutation p of |mean(a) − mean(b)|, by enumerating every split with exact fractions."""
    pooled = [Fraction(x) for x in a + b]
    observed = abs(sum(pooled[:len(a)]) / len(a) - sum(pooled[len(a):]) / len(b))
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        first = [pooled[i] for i in idx]
        rest = [pooled[i] for i in range(len(pooled)) if i not in idx]
        hits += abs(sum(first) / len(first) - sum(rest) / len(rest)) >= observed
        total += 1
    return Fraction(hits, total)


def test_table_cells_match_hand_computed_statistics():
    df = metrics_frame()
    table = build_table(df, "fid", VARIANTS, [IMAGE, POINTS], "base", n_boot=2000,
                        floors={IMAGE: {"fid": 2.5}})
    assert table is not None
    assert table.datasets == [IMAGE]  # FID is an image metric: the mixture gets no column
    assert [label for _, label, _ in table.rows] == [label for _, label in VARIANTS]  # config order
    cells = {variant: row[IMAGE] for variant, _, row in table.rows}

    base = cells["base"]
    assert (base.n, base.failed) == (4, 0)
    assert base.mean == pytest.approx(13.0)
    assert base.std == pytest.approx(math.sqrt((9 + 1 + 1 + 9) / 3))  # sample std, ddof = 1
    assert base.p_value is None  # the baseline is not tested against itself
    lo, hi = exact_bootstrap_interval([10.0, 12.0, 14.0, 16.0])
    assert base.ci_low == pytest.approx(lo, abs=0.5) and base.ci_high == pytest.approx(hi, abs=0.5)
    assert base.ci_low < base.mean < base.ci_high

    xss = cells["xss"]  # the diverged seed is counted, not averaged: mean of 8, 9, 7
    assert (xss.n, xss.failed, xss.total) == (3, 1, 4)
    assert xss.mean == pytest.approx(8.0)
    assert xss.std == pytest.approx(1.0)
    # exact bootstrap of (7, 8, 9): P(mean = 7) = P(mean = 9) = 1/27 > 2.5 %, so the interval is [7, 9]
    assert (xss.ci_low, xss.ci_high) == pytest.approx(exact_bootstrap_interval([8.0, 9.0, 7.0]))
    assert (xss.ci_low, xss.ci_high) == pytest.approx((7.0, 9.0))
    # exact permutation test: of the C(7, 3) = 35 splits, xss's own (|8 − 13| = 5) and {12, 14, 16} vs the rest
    # (|14 − 8.5| = 5.5) are at least as extreme: p = 2/35, though Welch's t-test would say 0.023
    assert permutation_by_hand([8.0, 9.0, 7.0], [10.0, 12.0, 14.0, 16.0]) == Fraction(2, 35)
    assert xss.p_value == pytest.approx(2 / 35, rel=1e-12)
    assert xss.comparison.test == stats.EXACT and xss.comparison.min_p == pytest.approx(1 / 35)
    assert not xss.significant(0.05)

    boom = cells["boom"]  # every seed diverged: counted, nothing averaged, no test
    assert (boom.n, boom.failed) == (0, 4)
    assert math.isnan(boom.mean) and math.isnan(boom.std) and math.isnan(boom.ci_low)
    assert boom.p_value is None

    assert table.best == {IMAGE: "xss"}  # lower FID is better; the all-diverged row cannot win
    assert table.floor == {IMAGE: 2.5}


def test_best_follows_direction_and_scale():
    df = metrics_frame()
    precision = build_table(df, "precision", VARIANTS, [IMAGE, POINTS], "base", n_boot=200)
    assert precision.best == {IMAGE: "xss"}  # higher is better: 0.8 (0.9, 0.8, 0.7) beats 0.65
    assert precision.rows[1][2][IMAGE].mean == pytest.approx(0.8)  # the diverged 1.0 stays out
    modes = build_table(df, "modes", VARIANTS, [IMAGE, POINTS], "base", n_boot=200)
    assert modes.datasets == [POINTS] and modes.best == {POINTS: "xss"}
    # modes of xss (6, 8, 7) lie above every baseline seed (2, 3, 4, 3): the one most extreme of 35 splits
    assert modes.rows[1][2][POINTS].p_value == pytest.approx(1 / 35) and modes.rows[1][2][POINTS].significant(0.05)
    kid = build_table(df, "kid", VARIANTS, [IMAGE, POINTS], "base", n_boot=200, floors={IMAGE: {"kid": 0.004}})
    assert kid.rows[0][2][IMAGE].mean == pytest.approx(0.013)  # stored as fid/1000, shown as stored
    assert kid.floor[IMAGE] == pytest.approx(0.004)


def test_summary_edge_cases():
    single = stats.summarize([5.0])
    assert (single.n, single.mean, single.std, single.ci_low, single.ci_high) == (1, 5.0, 0.0, 5.0, 5.0)
    empty = stats.summarize([NAN, None, math.inf], failed=2)  # non-finite values are not values
    assert (empty.n, empty.failed) == (0, 2) and math.isnan(empty.mean)
    assert stats.bootstrap_ci(np.array([3.0, 3.0, 3.0])) == (3.0, 3.0)
    assert stats.welch_p([1.0], [2.0, 3.0]) is None  # fewer than two values on one side
    assert stats.welch_p([2.0, 2.0], [2.0, 3.0]) is None  # no variance on a side: t is undefined
    assert stats.compare([1.0], [2.0, 3.0]) is None
    a, b = [1.0, 2.0, 4.0, 3.5], [2.5, 6.0, 5.0, 7.5, 6.2]
    assert stats.welch_p(a, b) == pytest.approx(welch_by_hand(a, b), rel=1e-9)
    assert stats.welch_p(a, b) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)


def test_significance_is_exact_for_small_tied_and_constant_groups():
    # two constant groups of 3 seeds: the most extreme of C(6, 3) = 20 splits, and its mirror image: p = 0.1, not 0
    constant = stats.compare([8.0, 8.0, 8.0], [1.0, 1.0, 1.0])
    assert constant.test == stats.EXACT and constant.p_value == pytest.approx(0.1)
    assert not constant.significant(0.05)
    assert stats.compare([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]).p_value == 1.0  # identical constants: no difference
    # ties and small groups: the exact p by enumeration with fractions
    for a, b in (([1.0, 1.0, 2.0], [2.0, 3.0, 3.0]), ([8.0, 8.0, 7.0], [1.0, 1.0, 1.0, 2.0]),
                 ([0.5, 0.5, 0.5, 0.5], [0.5, 0.6, 0.5, 0.7, 0.5]),
                 ([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0, 6.0, 7.0])):
        assert stats.compare(a, b).p_value == pytest.approx(float(permutation_by_hand(a, b)), rel=1e-12), (a, b)
    # the smallest attainable p: 2 / C(2n, n) for equal groups, 1 / C otherwise; 3 vs 3 cannot reach 0.05
    assert stats.min_attainable_p(3, 3) == pytest.approx(0.1)
    assert stats.min_attainable_p(3, 2) == pytest.approx(0.1)
    assert stats.min_attainable_p(4, 4) == pytest.approx(2 / 70)
    assert stats.min_attainable_p(3, 4) == pytest.approx(1 / 35)
    assert stats.min_attainable_p(5, 5) == pytest.approx(2 / 252)
    assert math.isnan(stats.min_attainable_p(1, 5))
    for n in (2, 3, 4, 5):  # no data reaches below the floor: the extreme split of distinct values attains it
        extreme = stats.compare([10.0 + i for i in range(n)], [float(i) for i in range(n)])
        assert extreme.p_value == pytest.approx(stats.min_attainable_p(n, n)) == pytest.approx(extreme.min_p)
    # a cell whose floor is not below alpha is never marked, whatever its p
    assert not stats.Comparison(0.01, "a test", 0.1).significant(0.05)
    assert stats.Comparison(0.01, "a test", 0.001).significant(0.05)
    # beyond 10 vs 10: Welch's t-test where both groups vary, a randomized permutation test where one is constant
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 12), rng.normal(1, 1, 12)
    big = stats.compare(a, b)
    assert big.test == stats.WELCH and big.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    flat = stats.compare([3.0] * 12, [4.0] * 12)
    assert flat.test == stats.RANDOMIZED and flat.p_value == pytest.approx(1 / (stats.MONTE_CARLO + 1))


def test_three_seeds_cannot_be_significant_and_the_report_says_so():
    from ganbench.report.build import _significance

    rows = []
    for variant, value in (("base", 1.0), ("xss", 8.0)):
        for seed in range(3):  # constant groups, far apart: the old rule said p = 0
            rows.append({"dataset": POINTS, "variant": variant, "seed": seed, "status": "ok", "kind": "points",
                         "modes": value})
    table = build_table(pd.DataFrame(rows), "modes", VARIANTS[:2], [POINTS], "base", n_boot=200)
    cell = table.rows[1][2][POINTS]
    assert cell.p_value == pytest.approx(0.1) and not cell.significant(0.05)
    three = _significance(3, 0.05)
    assert three["min_p"] == pytest.approx(0.1) and not three["reachable"] and three["needed"] == 4
    assert _significance(4, 0.05)["reachable"] and not _significance(4, 0.01)["reachable"]
    assert _significance(10, 0.05)["exact"] and not _significance(11, 0.05)["exact"]  # 11 vs 11: Welch's test


def test_mixture_table_says_which_generators_are_diffuse():
    from ganbench.report.build import _mixture_quality_notes

    df = metrics_frame()
    df.loc[(df["variant"] == "xss") & (df["dataset"] == POINTS), "hq_percent"] = [12.0, 14.0, 16.0, 90.0]
    labels = dict(VARIANTS)
    modes = build_table(df, "modes", VARIANTS, [IMAGE, POINTS], "base", n_boot=200)
    notes = _mixture_quality_notes(modes, df, labels)
    assert len(notes) == 1 and "1 of 2 configurations put under 50 % of their samples" in notes[0]
    assert f"{XSS} (14 %)" in notes[0] and "A  baseline" not in notes[0]  # the diverged 90 % stays out
    fid = build_table(df, "fid", VARIANTS, [IMAGE, POINTS], "base", n_boot=200)
    assert _mixture_quality_notes(fid, df, labels) == []


def test_table_with_metric_column_entirely_nan():
    df = metrics_frame(all_diverged=True)
    table = build_table(df, "fid", VARIANTS, [IMAGE, POINTS], "base", n_boot=200)
    assert table.best == {}
    for _, _, row in table.rows:
        assert (row[IMAGE].n, row[IMAGE].failed) == (0, 4) and row[IMAGE].p_value is None


# ---------------------------------------------------------------------------------------------- network pictures
def test_slerp_keeps_endpoints_and_norm():
    from ganbench.report.networks import slerp

    a, b = torch.randn(3, 16), torch.randn(3, 16)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)  # equal norms: the path stays on the sphere
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (3, 5, 16)
    assert torch.allclose(path[:, 0], a, atol=1e-5) and torch.allclose(path[:, -1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=2), a.norm(dim=1, keepdim=True).expand(3, 5), rtol=1e-4)
    assert torch.allclose(slerp(a, a, torch.tensor([0.5]))[:, 0], a, atol=1e-5)  # parallel: no division by 0


def test_first_layer_filters_of_each_discriminator_kind():
    from ganbench.models import ARCHITECTURES
    from ganbench.report.networks import first_layer_weights
    from ganbench.tricks.pacgan import widen_input
    from ganbench.tricks.spectral_norm import apply_spectral_norm

    mlp = ARCHITECTURES.get("mlp")(SHAPE, "image", 8, 10, {"hidden": 16}, "architecture").discriminator()
    assert first_layer_weights(mlp.state_dict(), SHAPE).shape == (16, *SHAPE)  # one 28×28 image per unit
    dcgan = ARCHITECTURES.get("dcgan")(SHAPE, "image", 8, 10, {"width": 8}, "architecture").discriminator()
    w = first_layer_weights(dcgan.state_dict(), SHAPE)
    assert w.shape == (8, 1, 4, 4) and torch.equal(w, dcgan[0].weight.detach())  # one 4×4 kernel per channel
    apply_spectral_norm(dcgan)  # the weight is stored as ...parametrizations.weight.original
    assert first_layer_weights(dcgan.state_dict(), SHAPE).shape == (8, 1, 4, 4)
    dcgan[0] = widen_input(dcgan[0], 2)  # PacGAN: two samples side by side, two kernels per unit
    assert first_layer_weights(dcgan.state_dict(), SHAPE).shape == (16, 1, 4, 4)
    points = ARCHITECTURES.get("mlp")((2,), "points", 8, 8, {"hidden": 16}, "architecture").discriminator()
    assert first_layer_weights(points.state_dict(), SHAPE) is None  # sees no pixels


# ---------------------------------------------------------------------------------------------- results tree
def write_results(root: Path, df: pd.DataFrame) -> Path:
    """A results tree for ``df`` (see the module docstring); returns the metrics.csv path."""
    from ganbench.models import ARCHITECTURES
    from ganbench.plots import save_image_grid, save_points

    results = root / "results"
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # prepared data: a few random training images, as `ganbench prepare` writes them
    meta = {"name": IMAGE, "kind": "image", "shape": list(SHAPE), "num_classes": 10}
    (results / "data").mkdir(parents=True)
    x = rng.integers(0, 256, size=(64, *SHAPE), dtype=np.uint8)
    y = rng.integers(0, 10, size=64).astype(np.int64)
    with open(results / "data" / f"{IMAGE}.npz", "wb") as handle:
        np.savez(handle, x_train=x, y_train=y, x_test=x[:16], y_test=y[:16],
                 meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    from ganbench.data import make_builder, prepare_dataset

    prepare_dataset(make_builder(POINTS, {"n_train": 200, "n_test": 100}), results / "data" / f"{POINTS}.npz",
                    root / "cache")
    points_family = ARCHITECTURES.get("mlp")((2,), "points", 8, 8, {"hidden": 16}, "architecture")
    write_json(results / "features" / IMAGE / "floor.json", {"metrics": {"fid": 2.5, "kid": 0.004, "is": 9.0,
                                                                         "precision": 0.9, "recall": 0.9}})
    write_json(results / "classifier" / IMAGE / "info.json", {"test_accuracy": 0.9, "train_seconds": 3.0})
    # one sample picture per kind, copied into every run folder (drawing 24 of them would dominate the test)
    centers = np.array([[math.cos(a), math.sin(a)] for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)])
    save_points(rng.normal(size=(200, 2)).astype(np.float32), centers, root / "points.png")
    save_image_grid(torch.rand(16, *SHAPE) * 2 - 1, root / "images.png", nrow=4)

    for row in df.to_dict("records"):
        run = results / "runs" / row["dataset"] / row["variant"] / f"seed{row['seed']}"
        run.mkdir(parents=True)
        steps = np.arange(10, 41, 10)
        log = pd.DataFrame({"step": steps, "loss_d": 1.3 - steps / 100, "loss_g": 0.7 + steps / 200 + row["seed"] / 50,
                            "d_real": 0.5 + steps / 200, "d_fake": 0.5 - steps / 200, "critic_gap": 0.1,
                            "penalty": 0.0, "seconds": steps / 10})
        if row["status"] != "ok":  # a diverging run's log ends in non-finite losses
            log.loc[len(log) - 1, ["loss_d", "loss_g", "d_real"]] = [math.inf, math.nan, math.nan]
        log.to_csv(run / "log.csv", index=False)
        shutil.copyfile(root / ("points.png" if row["kind"] == "points" else "images.png"), run / "samples.png")
        if row["kind"] == "points":
            counts = [400, 2, 1, 0, 0, 0, 0, 0] if row["status"] == "ok" else []
            curve = [{"step": s, "modes": m, "modes_reached": 1, "hq_percent": 10.0 * m, "mode_counts": counts}
                     for s, m in ((20, 2.0), (40, 3.0))]
            write_json(run / "metrics.json", {**{k: v for k, v in row.items() if not pd.isna(v)},
                                              **({"mode_counts": counts, "mode_min_samples": 32, "mode_curve": curve}
                                                 if counts else {})})
            settings = {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 8}
            write_json(run / "train.json", {"settings": settings, "status": row["status"],
                                            "data": {"name": POINTS, "kind": "points", "shape": [2], "num_classes": 8}})
            for step in (20, 40):
                torch_save(points_family.generator().state_dict(), run / "snapshots" / f"step{step:08d}.pt")
            continue
        fid = row["fid"]
        curve = [] if pd.isna(fid) else [{"step": 20, "fid": fid + 5.0}, {"step": 40, "fid": fid}]
        classes = {"class_counts": [300] * 9 + [1], "class_min_samples": 28} if row["status"] == "ok" else {}
        write_json(run / "metrics.json", {**{k: v for k, v in row.items() if not pd.isna(v)}, "fid_curve": curve,
                                          **classes})
        settings = {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 8}
        write_json(run / "train.json", {"settings": settings, "data": meta, "status": row["status"]})
        family = ARCHITECTURES.get("mlp")(SHAPE, "image", 8, 10, {"hidden": 16}, "architecture")
        torch_save(family.generator().state_dict(), run / "generator.pt")
        torch_save({"gan": {"step": 20, "Ds": [family.discriminator().state_dict()]}},
                   run / "ckpt" / "step00000020.pt")
    df.to_csv(results / "metrics.csv", index=False)
    return results / "metrics.csv"


class Page(HTMLParser):
    """The parts of the report the tests read: each ablation table as {row label: [cell texts]}, the sentence
    under it, every <img> src, and whether a <script> element occurs."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.sentences: dict[str, str] = {}
        self.images: list[str] = []
        self.scripts = 0
        self._metric: str | None = None
        self._last_metric: str | None = None
        self._row: list[str] | None = None
        self._text: list[str] | None = None
        self._sentence: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "br" and self._text is not None:
            self._text.append(" ")
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table" and "ablation" in (attrs.get("class") or ""):
            self._metric = attrs["data-metric"]
            self.tables[self._metric] = {}
        elif self._metric and tag == "tr":
            self._row = []
        elif self._metric and self._row is not None and tag in ("td", "th"):
            self._text = []
        elif tag == "p" and "seeds" in (attrs.get("class") or "") and self._last_metric:
            self._sentence = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._text is not None:
            self._row.append(" ".join("".join(self._text).split()))
            self._text = None
        elif tag == "tr" and self._row is not None:
            if self._row and self._row[0] != "Configuration":
                self.tables[self._metric][self._row[0]] = self._row[1:]
            self._row = None
        elif tag == "table" and self._metric:
            self._last_metric, self._metric = self._metric, None
        elif tag == "p" and self._sentence is not None:
            self.sentences[self._last_metric] = " ".join("".join(self._sentence).split())
            self._sentence = None

    def handle_data(self, data):
        for buf in (self._text, self._sentence):
            if buf is not None:
                buf.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of the synthetic results tree (4 seeds; one variant labelled XSS with a diverged seed, one that
    always diverges)."""
    root = tmp_path_factory.mktemp("report")
    metrics = write_results(root, metrics_frame())
    return build_report(Config(RAW_CONFIG), metrics, root / "results" / "report", results_dir=root / "results")


def test_report_escapes_labels(report):
    html = report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS not in html
    assert "<script" not in html.lower()  # the report needs no script at all
    assert Page(html).scripts == 0


def test_report_tables(report):
    page = Page(report.read_text())
    expected = ["fid", "fid_best", "kid", "is", "precision", "recall", "classes_covered", "class_kl", "modes",
                "hq_percent", "reverse_kl"]
    assert list(page.tables) == expected  # the order: FID first, mixtures last
    fid = page.tables["fid"]
    assert list(fid) == ["A baseline", XSS, "C always diverges", "data (real vs real)"]  # config order, then floor
    assert fid["A baseline"][0].startswith("13.00 ± 2.58 n=4")
    assert fid[XSS][0].startswith("8.00 ± 1.00 n=3 [7.00, 9.00]")  # exact p = 2/35 ≈ 0.057: no dagger
    assert page.tables["modes"][XSS][0].startswith("7.0 ± 1.0† n=3")  # p = 1/35 < 0.05
    assert "1/4 diverged" in fid[XSS][0]
    assert fid["C always diverges"] == ["— 4/4 diverged"]
    assert fid["data (real vs real)"] == ["2.50"]
    assert page.sentences["fid"].startswith("Means rest on 3–4 seed(s) per cell (12 run(s) in this table, 4 seed(s)")
    assert "1 cell(s) have no finished seed" in page.sentences["fid"]
    assert "5 diverged or failed run(s) are counted" in page.sentences["fid"]
    html = report.read_text()
    assert re.search(r'<td class="best"[^>]*>8\.00 ± 1\.00', html)  # best per column in bold
    assert (f"exact permutation test vs baseline: p = {2 / 35:.3g}; the smallest p it can give for 3 vs the "
            f"baseline&#39;s seeds is {1 / 35:.3g}") in html  # the p-value on hover
    assert "With 4 seeds per side the smallest p this test\ncan give is 0.0286" in html
    # a metric no run produced: "—" in every cell and a sentence that says so
    assert page.tables["reverse_kl"]["A baseline"] == ["— 4/4 without a value"]
    assert page.sentences["reverse_kl"].startswith("No run produced this metric")


def test_report_folder_is_self_contained(report):
    page = Page(report.read_text())
    folder = report.parent
    assert page.images, "the report shows no image"
    for src in page.images:
        assert not src.startswith(("/", "http:", "https:", "file:")) and ".." not in Path(src).parts, src
        assert (folder / src).is_file(), src
    names = {Path(s).name for s in page.images}
    for expected in (f"losses_{IMAGE}.png", f"dout_{IMAGE}.png", f"fidcurve_{IMAGE}.png", f"fidstrip_{IMAGE}.png",
                     f"prc_{IMAGE}.png", f"modes_{POINTS}.png", f"interp_{IMAGE}__base__seed0.png",
                     f"mode_counts_{POINTS}.png", f"class_counts_{IMAGE}.png", f"modecurve_{POINTS}.png",
                     f"hopping_{POINTS}.png",
                     f"dfilters_{IMAGE}__xss__seed2.png", f"nn_{IMAGE}__base__seed0.png"):
        assert expected in names
    html = report.read_text()
    assert "no finished run: nothing to show" in html  # "boom" has no network to show
    assert "Where the time goes" in html and "50.0 %" in html  # 4 s of a 6 s job + 2 s evaluation
    assert html.count('href="../runs/') == len(metrics_frame())  # every run links to its folder


def test_report_when_every_run_diverged(tmp_path):
    metrics = write_results(tmp_path, metrics_frame(all_diverged=True))
    index = build_report(Config(RAW_CONFIG), metrics, tmp_path / "results" / "report",
                         results_dir=tmp_path / "results")
    html = index.read_text()
    page = Page(html)
    assert page.tables["fid"]["A baseline"] == ["— 4/4 diverged"]
    assert page.sentences["fid"].startswith("No run produced this metric (12 run(s)")
    names = {Path(s).name for s in page.images}
    assert f"losses_{IMAGE}.png" in names  # the logs up to the divergence are still plotted
    assert not any(n.startswith(("fidstrip", "fidcurve", "prc", "modes", "interp")) for n in names)
    assert all((index.parent / s).is_file() for s in page.images)


# ---------------------------------------------------------------------------------------------- in Chromium
def test_report_in_chromium(report, chromium):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    dialogs: list[str] = []
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

            def on_dialog(dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.evaluate("""() => Array.from(document.images).map(
                img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}))""")
            tables = page.eval_on_selector_all("table.ablation", "ts => ts.map(t => t.dataset.metric)")
            text = page.inner_text("body")
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()

    assert not errors, errors
    assert not dialogs, f"a dialog fired: {dialogs}"
    assert images and all(i["ok"] for i in images), [i["src"] for i in images if not i["ok"]]
    assert {"fid", "fid_best", "kid", "is", "precision", "recall", "modes", "hq_percent"} <= set(tables)
    assert XSS in text  # shown as text, not run
    assert (artifacts / "report.png").stat().st_size > 10_000



def test_time_breakdown_counts_every_jobs_cpu_seconds(tmp_path):
    """Two runs of one evaluate job plus the once-per-dataset jobs, against hand-computed sums."""
    from ganbench.report.build import _time_breakdown

    df = pd.DataFrame([
        {"dataset": IMAGE, "variant": "a", "seed": s, "train_seconds": 9.0, "train_cpu_seconds": t,
         "train_job_cpu_seconds": t + 3.0, "eval_cpu_seconds": 1.0, "eval_seconds": 1.5,
         "eval_job_setup_cpu_seconds": 4.0, "eval_job_runs": 2} for s, t in ((0, 10.0), (1, 20.0))])
    write_json(tmp_path / "classifier" / IMAGE / "info.json", {"job_cpu_seconds": 7.0})
    write_json(tmp_path / "features" / IMAGE / "floor.json", {"job_cpu_seconds": 5.0})
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / f"{IMAGE}.npz",
             meta=np.frombuffer(json.dumps({"prepare_cpu_seconds": 2.0}).encode(), dtype=np.uint8))
    timing = _time_breakdown(df, ["a"], {"a": "A"}, [IMAGE], tmp_path)
    row = timing["rows"][0]
    # training steps 10 + 20; rest of the training jobs 3 + 3; evaluation 2 × (1 own + 4 / 2 of the job's setup)
    assert (row["train"], row["other"], row["eval"]) == (30.0, 6.0, 6.0)
    assert row["share"] == pytest.approx(100 * 30 / 42) and row["eval_ratio"] == pytest.approx(100 * 6 / 30)
    assert timing["shared"][0]["total"] == 14.0  # prepare 2 + classifier 7 + features 5
    assert timing["total"]["total"] == 56.0 and timing["total"]["share"] == pytest.approx(100 * 30 / 56)


# ---------------------------------------------------------------------------------------------- lecture pictures
# where each loss's D cannot tell real from fake: the D output (logit for the BCE games, D itself for LSGAN, any
# t in [−1, 1] for the hinge loss, any value equal on both sides for the relativistic losses) at which its declared
# equilibrium values must hold
EQUILIBRIUM_OUTPUT = {"minimax": 0.0, "nonsaturating": 0.0, "lsgan": 0.5, "hinge": 0.3, "rasgan": 0.3,
                      "ralsgan": -0.7}


def test_each_loss_declares_the_values_its_functions_take_where_d_cannot_tell():
    from ganbench.losses import LOSSES

    for name in LOSSES:
        loss = LOSSES.get(name)()
        d_eq, g_eq = type(loss).equilibrium
        if name not in EQUILIBRIUM_OUTPUT:
            assert (d_eq, g_eq) == (None, None), name  # e.g. a Wasserstein critic: no such value
            continue
        out = torch.full((16,), EQUILIBRIUM_OUTPUT[name])
        assert float(loss.d_loss(out, out)) == pytest.approx(d_eq, abs=1e-6), name
        if g_eq is None:
            assert float(loss.g_loss(out, out)) != float(loss.g_loss(out, out - 0.2))  # hinge: G's is not pinned
        else:
            assert float(loss.g_loss(out, out)) == pytest.approx(g_eq, abs=1e-6), name
    assert LOSSES.get("minimax").equilibrium[1] == pytest.approx(-math.log(2))  # not the non-saturating log 2
    assert LOSSES.get("nonsaturating").equilibrium[1] == pytest.approx(math.log(2))


def test_loss_plot_draws_each_variants_own_reference_lines():
    from ganbench.report import plots
    from ganbench.report.figures import equilibria as _equilibria

    raw = {**RAW_CONFIG, "variants": [{"name": "mm", "loss": "minimax"}, {"name": "ns"},
                                      {"name": "wgp", "loss": "wgan-gp", "d_steps": 5}]}
    config = Config(raw)
    equilibria = _equilibria(config, ["mm", "ns", "wgp"])
    assert equilibria == {"mm": (pytest.approx(2 * math.log(2)), pytest.approx(-math.log(2))),
                          "ns": (pytest.approx(2 * math.log(2)), pytest.approx(math.log(2))), "wgp": (None, None)}
    logs = pd.DataFrame([{"variant": v, "seed": s, "step": step, "loss_d": 1.0, "loss_g": 0.5}
                         for v in ("mm", "ns", "wgp") for s in (0, 1) for step in (10, 20)])
    grid = plots.loss_grid(logs, "ring8", ["mm", "ns", "wgp"], equilibria)

    def dashed(ax) -> list[float]:
        return sorted(round(float(line.get_ydata()[0]), 6) for line in ax.get_lines() if line.get_linestyle() == "--")

    assert dashed(grid.axes_dict["mm"]) == [round(-math.log(2), 6), round(2 * math.log(2), 6)]
    assert dashed(grid.axes_dict["ns"]) == [round(math.log(2), 6), round(2 * math.log(2), 6)]
    assert dashed(grid.axes_dict["wgp"]) == []


def test_conditional_interpolation_keeps_one_label_per_strip():
    from ganbench.models import ARCHITECTURES
    from ganbench.report.networks import interpolation_inputs
    from ganbench.train.conditioning import LabelledSampler, conditioning_of

    conditioning = conditioning_of({"conditional": "concat"}, 10)
    g = ARCHITECTURES.get("mlp")(SHAPE, "image", conditioning.g_inputs(8), 10, {"hidden": 16}, "a").generator()
    z, labels = interpolation_inputs(LabelledSampler(g, conditioning), 8, steps=6)
    strips = labels.view(10, 6)
    assert (strips == strips[:, :1]).all() and strips[:, 0].tolist() == list(range(10))  # one label a strip
    assert torch.equal(z.view(10, 6, 8)[0], z.view(10, 6, 8)[9])  # the same path in z under every label
    assert not torch.equal(z[0], z[5])  # and it moves
    z_plain, none = interpolation_inputs(g, 8, rows=4, steps=6)
    assert none is None and z_plain.shape == (24, 8)


class Brightness(torch.nn.Module):
    """A 'generator' whose image is one grey level: 0.4·z₀ (unconditional) or the centre of the bin of the label
    code Σ_c onehot_c · c (conditional), in [-1, 1]."""

    def __init__(self, conditional: bool):
        super().__init__()
        self.conditional = conditional
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a parameter, for the device lookup

    def forward(self, code):
        if self.conditional:
            level = (code[:, -10:] * torch.arange(10.0)).sum(1)
            value = ((level + 0.5) / 10) * 2 - 1
        else:
            value = (0.4 * code[:, 0]).clamp(-1, 1)
        return value[:, None, None, None].expand(-1, *SHAPE) + 0 * self.anchor


class BrightnessClassifier:
    """Ten classes by mean brightness in tenths; the logit of class c falls with the distance to its bin centre."""

    def infer(self, x):
        b = x.float().mean(dim=(1, 2, 3)) / 255
        logits = -(b[:, None] - (torch.arange(10.0) + 0.5) / 10).abs() * 100
        return b[:, None], logits


@pytest.mark.parametrize("conditional", [False, True])
def test_latent_arithmetic_adds_the_class_means(tmp_path, conditional):
    from ganbench.report.networks import arithmetic_triplets, latent_arithmetic
    from ganbench.train.conditioning import LabelledSampler, conditioning_of

    net = Brightness(conditional)
    if conditional:
        net = LabelledSampler(net, conditioning_of({"conditional": "concat"}, 10))
    picture = latent_arithmetic(net, 8, BrightnessClassifier(), 10, tmp_path / "arith.png",
                                class_names=tuple(f"c{i}" for i in range(10)))
    assert (tmp_path / "arith.png").is_file()
    # a generator linear in its input: mean(A) − mean(B) + mean(C) for classes (a, a+1, a+2) shows class a + 1
    for a, b, c in arithmetic_triplets(10):
        assert f"c{a} − c{b} + c{c} → c{a + 1}" in picture.note, picture.note
    assert "left out" not in picture.note


def test_latent_arithmetic_leaves_out_triplets_of_classes_no_sample_shows(tmp_path):
    from ganbench.report.networks import latent_arithmetic

    class Dim(Brightness):  # never brighter than class 6: classes 7, 8, 9 have no sample
        def forward(self, code):
            return super().forward(code).clamp(max=0.38)

    picture = latent_arithmetic(Dim(False), 8, BrightnessClassifier(), 10, tmp_path / "arith.png")
    assert "class 0 − class 1 + class 2 → class 1" in picture.note and "class 6 − class 7" not in picture.note
    assert "rows left out: no sample shows class 7, class 8" in picture.note
    with pytest.raises(ValueError, match="no triplet to show"):
        latent_arithmetic(Dim(False), 8, BrightnessClassifier(), 10, tmp_path / "none.png",
                          samples=1)
