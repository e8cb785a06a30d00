"""Hyperparameter search as a DAG (ganbench.search, workflow/rules/search.smk): the expansion is deterministic and
validated, the selection reads validation metrics only and follows the metric's direction, the budget curves are
the closed-form expected best, and a real Snakemake run goes phase 1 -> select -> phase 2 with nothing rerun."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, env_with_venv, snakemake_cmd
from ganbench.config import Config
from ganbench.errors import ConfigError, GanbenchError
from ganbench.report.budget import budget_curve, expected_best
from ganbench.search import select
from ganbench.specs import prepare_spec

BASE = {
    "seeds": [0, 1],
    "datasets": {"fashion_mnist": {"train_limit": 2000, "test_limit": 500, "val_size": 300}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 32}, "steps": 20},
    "variants": [
        {"name": "ns"},
        {"name": "gp", "loss": "wgan-gp", "d_steps": 2,
         "search": {"samples": 5, "seed": 3, "seeds": [0],
                    "space": {"optimizer.lr_g": {"log_uniform": [1.0e-4, 1.0e-2], "also": ["optimizer.lr_d"]},
                              "optimizer.betas.0": {"uniform": [0.0, 0.9]},
                              "d_steps": {"choice": [1, 5]}}}},
    ],
}


def with_search(edit=None, **search) -> dict:
    raw = copy.deepcopy(BASE)
    raw["variants"][1]["search"].update(search)
    if edit:
        edit(raw)
    return raw


# ---------------------------------------------------------------------------------------------- expansion
def test_expansion_is_deterministic_and_growing_the_budget_keeps_the_settings_drawn():
    a, b = Config(with_search()), Config(with_search())
    assert [s.record() for s in a.samples("gp")] == [s.record() for s in b.samples("gp")]
    values = [s.values for s in a.samples("gp")]
    assert len(values) == 5 and len({json.dumps(v, sort_keys=True) for v in values}) == 5
    for v in values:
        assert 1e-4 <= v["optimizer.lr_g"] <= 1e-2 and 0.0 <= v["optimizer.betas.0"] <= 0.9
        assert v["d_steps"] in (1, 5)
    # `also` sets the same value at both keys; a list entry is set by its index, the rest of the list kept
    settings = a.sample_settings("gp", 2)
    assert settings["optimizer"]["lr_g"] == settings["optimizer"]["lr_d"] == values[2]["optimizer.lr_g"]
    assert settings["optimizer"]["betas"] == [values[2]["optimizer.betas.0"], 0.999]
    assert a.samples("ns") == [] and a.search("ns") is None
    more = Config(with_search(samples=8))
    assert [s.values for s in more.samples("gp")][:5] == values
    assert [s.values for s in Config(with_search(seed=4)).samples("gp")] != values
    # the phase-1 runs: every setting with the search's seeds
    assert [(r.variant, r.h, r.seed) for r in a.search_runs()] == [("gp", h, 0) for h in range(5)]


def test_include_variant_makes_h0_the_variants_own_settings_and_keeps_the_other_draws():
    """As the study's code does (google/compare_gan: the published defaults are always among the 100 settings):
    h0 is the variant's own values at the searched keys, h1.. are the draws the same search makes without it."""
    plain = [s.values for s in Config(with_search()).samples("gp")]
    config = Config(with_search(include_variant=True))
    values = [s.values for s in config.samples("gp")]
    assert values[0] == {"optimizer.lr_g": 2e-4, "optimizer.betas.0": 0.5, "d_steps": 2}
    assert values[1:] == plain[1:] and values[0] != plain[0]
    settings = config.sample_settings("gp", 0)
    assert settings == config.settings("gp") | {"search": settings["search"]}


def test_a_grid_is_the_product_of_the_values_in_order():
    space = {"optimizer.lr_g": {"log_uniform": [1.0e-4, 1.0e-2], "points": 3}, "d_steps": {"choice": [1, 5]}}
    config = Config(with_search(method="grid", samples=6, space=space))
    got = [(s.values["d_steps"], s.values["optimizer.lr_g"]) for s in config.samples("gp")]
    assert got == list(itertools.product([1, 5], [1e-4, 1e-3, 1e-2]))


def test_a_search_in_defaults_applies_to_every_variant_and_null_drops_an_entry():
    def edit(raw):
        raw["defaults"]["search"] = raw["variants"][1].pop("search")
        raw["variants"][0]["search"] = {"space": {"d_steps": None}}
    config = Config(with_search(edit=edit))
    assert set(config.samples("gp")[0].values) == {"optimizer.lr_g", "optimizer.betas.0", "d_steps"}
    assert set(config.samples("ns")[0].values) == {"optimizer.lr_g", "optimizer.betas.0"}
    assert sorted(config.searched()) == [("fashion_mnist", "gp"), ("fashion_mnist", "ns")]


KEY = "variants[1].search"


@pytest.mark.parametrize("space, search, key, message", [
    ({"optimizer.lr_g": {"log_uniform": [1e-2, 1e-4]}}, {}, f"{KEY}.space.optimizer.lr_g", "low < high"),
    ({"optimizer.lr_g": {"log_uniform": [0.0, 1e-4]}}, {}, f"{KEY}.space.optimizer.lr_g", "0 < low"),
    ({"optimizer.lr_g": {"uniform": [1.0]}}, {}, f"{KEY}.space.optimizer.lr_g", "[low, high]"),
    ({"d_steps": {"choice": []}}, {}, f"{KEY}.space.d_steps", "non-empty list"),
    ({"d_steps": {"choice": [1, 2, 0]}}, {}, f"{KEY}.space.d_steps", "minimum of 1"),  # refused by the schema
    ({"loss.gp_weight": {"uniform": [-5.0, -1.0]}}, {}, f"{KEY}.space.loss.gp_weight", "> 0"),  # by the loss
    ({"foo.bar": {"choice": [1]}}, {}, f"{KEY}.space.foo.bar", "not a training setting"),
    ({"optimizer.nope": {"choice": [1]}}, {}, f"{KEY}.space.optimizer.nope", "'nope' was unexpected"),
    ({"tricks.ema.decay": {"uniform": [0.9, 0.99]}}, {}, f"{KEY}.space.tricks.ema.decay", "no tricks.ema"),
    ({"optimizer.lr_g": {"normal": [1.0, 2.0]}}, {}, f"{KEY}.space.optimizer.lr_g", "unknown search distribution"),
    ({"optimizer.lr_g": {"uniform": [0.1, 0.2]}}, {"method": "grid"}, f"{KEY}.space.optimizer.lr_g", "points"),
    ({"optimizer.lr_g": {"uniform": [0.1, 0.2], "points": 9}}, {"method": "grid"}, f"{KEY}.samples", "9 settings"),
    (None, {"metric": "memorization_ratio"}, f"{KEY}.metric", "no higher- or lower-is-better"),
    (None, {"metric": "modes"}, f"{KEY}.metric", "points datasets"),
    (None, {"nope": 1}, KEY, "'nope' was unexpected"),  # the schema
    ({"d_steps": {"choice": [1, 5]}}, {"method": "grid", "include_variant": True}, f"{KEY}.include_variant",
     "only a random search"),
])
def test_a_bad_search_is_refused_naming_the_key(space, search, key, message):
    if space is not None:
        search = {**search, "space": space}
    with pytest.raises(ConfigError) as err:
        Config(with_search(**search))
    assert str(err.value).startswith(key + ":") and message in str(err.value), str(err.value)


def test_a_search_needs_a_validation_split_on_its_datasets():
    with pytest.raises(ConfigError, match=r"^variants\[1\]\.search: .*set datasets\.fashion_mnist\.val_size"):
        Config(with_search(edit=lambda raw: raw["datasets"]["fashion_mnist"].pop("val_size")))


# ---------------------------------------------------------------------------------------------- validation split
def test_the_validation_split_is_carved_out_of_the_train_split_deterministically(fmnist_mirror, fmnist_cache,
                                                                                 tmp_path):
    from ganbench.data import load_prepared, make_builder, prepare_dataset
    from ganbench.errors import DataError

    def prepared(name, **options):
        builder = make_builder("fashion_mnist", {"mirrors": [fmnist_mirror], "train_limit": 1000, "test_limit": 200,
                                                 **options})
        prepare_dataset(builder, tmp_path / f"{name}.npz", fmnist_cache)
        return load_prepared(tmp_path / f"{name}.npz")

    plain, a, b = prepared("plain"), prepared("a", val_size=300), prepared("b", val_size=300)
    assert plain.x_val is None and len(a.x_train) == 700 and len(a.x_val) == 300 and a.meta["n_val"] == 300
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.x_train, b.x_train)
    assert np.array_equal(a.x_test, plain.x_test)  # the test split is untouched
    rows = {r.tobytes() for r in plain.x_train}
    assert {r.tobytes() for r in a.x_val} | {r.tobytes() for r in a.x_train} == rows
    assert not {r.tobytes() for r in a.x_val} & {r.tobytes() for r in a.x_train}
    assert a.meta["fingerprint"] != plain.meta["fingerprint"]
    # no validation split: the dataset's identity (the prepare spec) is what it always was
    unsearched = Config(BASE | {"variants": [{"name": "ns"}], "datasets": {"fashion_mnist": {}}})
    assert "val_size" not in prepare_spec(unsearched, "fashion_mnist")["options"]
    with pytest.raises(DataError, match=r"datasets\.fashion_mnist\.val_size"):
        prepared("c", val_size=1000)


# ---------------------------------------------------------------------------------------------- selection
def _metrics(h, seed, fid, split="val", status="ok"):
    return (f"search/fashion_mnist/gp/h{h}/seed{seed}/metrics.json",
            {"dataset": "fashion_mnist", "variant": "gp", "h": h, "seed": seed, "real_split": split,
             "status": status, "fid": fid, "is": fid})


def _spec(n=3, metric="fid", higher=False, seeds=(0, 1)):
    return {"dataset": "fashion_mnist", "variant": "gp", "metric": metric, "higher_is_better": higher,
            "seeds": list(seeds), "samples": [{"h": h, "values": {"x": h}, "delta": {"x": h}} for h in range(n)]}


def test_selection_takes_the_best_mean_over_seeds_in_the_metrics_direction():
    planted = {0: (30.0, 10.0), 1: (18.0, 19.0), 2: (25.0, 11.0)}  # means 20, 18.5, 18
    metrics = [_metrics(h, s, v) for h, pair in planted.items() for s, v in zip((0, 1), pair)]
    record = select(_spec(), metrics)
    assert record["selected"] == 2 and record["value"] == 18.0 and record["delta"] == {"x": 2}
    assert [c["mean"] for c in record["candidates"]] == [20.0, 18.5, 18.0]
    assert select(_spec(metric="is", higher=True), metrics)["selected"] == 0  # higher is better: mean 20
    # a setting with a diverged seed is not eligible, whatever its other seed
    metrics[4] = _metrics(2, 0, float("nan"), status="diverged")
    record = select(_spec(), metrics)
    assert record["selected"] == 1 and not record["candidates"][2]["eligible"]
    assert "seed 0: diverged" in record["candidates"][2]["problems"]


def test_selection_refuses_test_split_metrics():
    metrics = [_metrics(h, s, 20.0 + h) for h in range(3) for s in (0, 1)]
    metrics[3] = _metrics(1, 1, 0.0, split="test")  # an adversarial test value that would win
    with pytest.raises(GanbenchError, match="never on the test split"):
        select(_spec(), metrics)


# ---------------------------------------------------------------------------------------------- budget curves
def test_budget_curve_is_the_hand_computed_expected_minimum():
    values = [3.0, 1.0, 2.0]
    # k=1: mean of all; k=2: min over the pairs {1,2},{1,3},{2,3} = 1, 1, 2; k=3: the minimum
    assert np.allclose(expected_best(values), [2.0, 4.0 / 3.0, 1.0])
    assert np.allclose(expected_best(values, higher_is_better=True), [2.0, 8.0 / 3.0, 3.0])
    rng = np.random.default_rng(0)
    table = rng.uniform(10, 50, size=6)
    brute = [np.mean([min(c) for c in itertools.combinations(table, k)]) for k in range(1, 7)]
    curve = budget_curve(list(table) + [float("nan")], n_boot=500)  # a non-finite value is left out
    assert np.allclose(curve["expected"], brute) and list(curve["k"]) == [1, 2, 3, 4, 5, 6]
    assert np.all(curve["low"] <= curve["high"]) and np.all(np.diff(curve["expected"]) <= 0)
    flat = budget_curve([5.0, 5.0, 5.0], n_boot=100)
    assert np.allclose(flat["low"], 5.0) and np.allclose(flat["high"], 5.0)


# ---------------------------------------------------------------------------------------------- the DAG, for real
SEARCH_RUN = {
    "title": "search",
    "seeds": [0, 1],
    "datasets": {"fashion_mnist": {"mirrors": ["file:///usr/share/datasets/fashion-mnist/"], "train_limit": 2000,
                                   "test_limit": 500, "val_size": 400}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 32}, "steps": 20, "checkpoint_every": 10,
                 "log_every": 10, "snapshots": 2},
    "variants": [{"name": "ns", "search": {"samples": 3, "seed": 0, "seeds": [0],
                                           "space": {"optimizer.lr_g": {"log_uniform": [1.0e-4, 1.0e-2],
                                                                        "also": ["optimizer.lr_d"]}}}}],
    "evaluation": {"num_samples": 300, "batch_size": 150, "kid_subset_size": 100,
                   "classifier": {"epochs": 3, "min_accuracy": 0.5}},
}


def smk(work: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(snakemake_cmd("--directory", str(work), "--configfile", str(work / "search.yaml"), *args),
                          capture_output=True, text=True, env=env_with_venv(), timeout=1200)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def planned_rules(work: Path) -> list[str]:
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", smk(work, "-n"), re.M)


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, fmnist_mirror) -> Path:
    work = tmp_path_factory.mktemp("search")
    (work / "search.yaml").write_text(yaml.safe_dump(SEARCH_RUN, sort_keys=False))
    smk(work, "--cores", "2")
    return work


def test_the_dag_selects_on_validation_and_phase2_trains_the_selection(searched):
    results = searched / "results"
    record = json.loads((results / "search/fashion_mnist/ns/selected.json").read_text())
    assert record["split"] == "val" and record["selected"] is not None
    means = [c["mean"] for c in record["candidates"]]
    assert record["selected"] == int(np.argmin(means))
    for c in record["candidates"]:  # the values in selected.json are the phase-1 runs' validation metrics
        m = json.loads((results / f"search/fashion_mnist/ns/h{c['h']}/seed0/metrics.json").read_text())
        assert m["real_split"] == "val" and m["fid"] == c["seeds"]["0"] and m["h"] == c["h"]
    lr = record["values"]["optimizer.lr_g"]
    for seed in (0, 1):
        folder = results / f"runs/fashion_mnist/ns/seed{seed}"
        train = json.loads((folder / "train.json").read_text())
        identity = json.loads((folder / "identity.json").read_text())
        # the run's identity and record carry the selected setting: a result belongs to the settings beside it
        assert train["settings"]["optimizer"]["lr_g"] == train["settings"]["optimizer"]["lr_d"] == lr
        assert identity["identity"]["settings"]["optimizer"]["lr_g"] == lr and identity["id"] == train["identity"]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["real_split"] == "test" and metrics["identity"] == train["identity"]
    # seed 0 of phase 2 is the phase-1 run of the selected setting: copied, not trained again
    phase1 = results / f"search/fashion_mnist/ns/h{record['selected']}/seed0"
    seed0 = results / "runs/fashion_mnist/ns/seed0"
    assert json.loads((seed0 / "train.json").read_text())["copied_from"]
    assert (seed0 / "generator.pt").read_bytes() == (phase1 / "generator.pt").read_bytes()
    html = (results / "report/index.html").read_text()
    assert 'id="search"' in html and f'data-selected="{record["selected"]}"' in html
    assert "budget_fashion_mnist.png" in html and (results / "report/img/budget_fashion_mnist.png").is_file()


def test_a_finished_search_plans_nothing(searched):
    assert planned_rules(searched) == []


def test_including_the_variants_own_settings_later_trains_only_that_setting(searched):
    """Switching include_variant on for a finished search replaces h0's draw by the variant's own settings: only
    h0 trains and is evaluated again (then the selection); h1 and h2 keep their runs."""
    raw = copy.deepcopy(SEARCH_RUN)
    raw["variants"][0]["search"]["include_variant"] = True
    configfile = searched / "search-own.yaml"
    configfile.write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = subprocess.run(snakemake_cmd("--directory", str(searched), "--configfile", str(configfile), "-n"),
                          capture_output=True, text=True, env=env_with_venv(), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", proc.stdout)
    settings = {rule: {int(h) for block in jobs if block.startswith(f"rule {rule}:")
                       for h in re.findall(r"wildcards: .*\bh=(\d+)", block)}
                for rule in ("train_search", "evaluate_search")}
    assert settings == {"train_search": {0}, "evaluate_search": {0}}, proc.stdout[-3000:]
    assert "checkpoint select:" in proc.stdout


def test_select_reads_phase1_validation_metrics_only(searched):
    """The select job's inputs are the phase-1 metrics files, never a test-split file."""
    out = smk(searched, "-n", "--forcerun", "results/search/fashion_mnist/ns/selected.json", "--until", "select")
    block = out[out.index("checkpoint select:"):]
    inputs = block.split("input: ", 1)[1].split("\n", 1)[0].split(", ")
    assert inputs == [f"results/search/fashion_mnist/ns/h{h}/seed0/metrics.json" for h in range(3)]


def test_planted_validation_values_decide_and_phase2_reruns_nothing_of_phase1(searched):
    """Plant validation values that make another setting best and adversarial test values (the phase-2 runs' own
    metrics) that favour the old one; the checkpoint follows the validation values, phase 2 retrains the new
    setting's runs, and not one phase-1 file is touched."""
    results = searched / "results"
    selected = json.loads((results / "search/fashion_mnist/ns/selected.json").read_text())["selected"]
    target = (selected + 1) % 3
    for h in range(3):
        path = results / f"search/fashion_mnist/ns/h{h}/seed0/metrics.json"
        m = json.loads(path.read_text())
        path.write_text(json.dumps({**m, "fid": 5.0 if h == target else 50.0 + h}))
    for seed in (0, 1):  # the test split says the old selection is far better
        path = results / f"runs/fashion_mnist/ns/seed{seed}/metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "fid": 0.001}))
    before = tree(results / "search/fashion_mnist/ns")
    smk(searched, "--cores", "2")
    record = json.loads((results / "search/fashion_mnist/ns/selected.json").read_text())
    assert record["selected"] == target and record["value"] == 5.0
    after = tree(results / "search/fashion_mnist/ns")
    assert {k: v for k, v in after.items() if not k.endswith("selected.json")} == \
        {k: v for k, v in before.items() if not k.endswith("selected.json")}, "phase 2 touched a phase-1 file"
    train = json.loads((results / "runs/fashion_mnist/ns/seed1/train.json").read_text())
    assert train["settings"]["optimizer"]["lr_g"] == record["values"]["optimizer.lr_g"]
    log = (results / "logs/train/fashion_mnist/ns/seed0.log").read_text()
    assert "copied, not trained again" in log
    assert planned_rules(searched) == []


def test_the_shipped_protocols_check_and_plan(tmp_path):
    """config/lucic2018.yaml (the real protocol) and its CPU-sized twin: valid, a search for every variant, and
    the DAG's shape: one train_search per phase-1 run, a select per (dataset, variant), one train per run."""
    for name in ("lucic2018.yaml", "lucic2018-cpu.yaml"):
        config = Config.load(REPO / "config" / name)
        assert config.searched() and all(config.search(v) for v in config.variant_names)
        proc = subprocess.run(snakemake_cmd("-n", "--directory", str(tmp_path), "--configfile",
                                            str(REPO / "config" / name)),
                              capture_output=True, text=True, env=env_with_venv(), timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rules = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", proc.stdout, re.M)
        assert rules.count("train_search") == len(list(config.search_runs()))
        assert rules.count("select") == len(config.searched())
        assert rules.count("train") == len(list(config.runs()))
