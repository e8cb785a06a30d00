"""The metric registry (ganbench.metrics.registry): one declaration of a metric reaches the evaluation, the report's
tables and its figures; an incomplete declaration, or a number a metric computes without declaring it, fails loudly;
descriptions follow the evaluation options."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ganbench.config import SETTINGS_DEFAULTS, Config, evaluation_defaults, merge
from ganbench.errors import ConfigError
from ganbench.metrics import registry
from ganbench.metrics.evaluate import evaluate_run
from ganbench.metrics.registry import METRICS, DeclarationError, Figure, Metric, Option, Score, metric
from ganbench.report.build import build_report
from ganbench.train.run import train_run
from test_report import IMAGE, POINTS, RAW_CONFIG, Page, metrics_frame, write_results

OPTIONS = {**evaluation_defaults(), "mixture_samples": 600, "batch_size": 200}


def spread(ctx) -> dict[str, float]:
    """A toy metric of 2-D runs: the standard deviation of the final generator's samples."""
    import torch

    from ganbench.metrics.context import generate

    net, z_dim = ctx.generator
    points = torch.cat(list(generate(net, z_dim, int(ctx.options["mixture_samples"]), 200, 0, ctx.device)))
    return {"spread": float(points.std()), "spread_samples": len(points)}


def spread_figure(ctx):
    from ganbench.report import plots

    if ctx.finite(ctx.ok, "spread"):
        yield ("Spread over seeds (toy)", plots.metric_strip(ctx.ok, "spread", "Spread", ctx.dataset, ctx.present,
                                                             ctx.png("spread")))


SPREAD = Metric("spread", spread, (Score("spread", "Spread (toy)", "lower", "{:.4f}",
                                         lambda o: f"sample std of {o['mixture_samples']:,} samples", ("points",)),),
                ("points",), records=("spread_samples",), figures=(Figure("spread", spread_figure),))


def forget_declared_options() -> None:
    """The config's defaults and schema are computed once from the metric declarations; a test that changes the
    declarations clears them."""
    from ganbench import config

    for cached in (config._evaluation_defaults, config._schema, config._validator):
        cached.cache_clear()


@pytest.fixture
def declared(monkeypatch):
    """Declare a metric for one test (the registry, and what the config derived from it, are restored afterwards)."""
    registry.load()

    def declare(family: Metric) -> None:
        monkeypatch.setitem(METRICS._items, family.name, family)
        forget_declared_options()

    yield declare
    monkeypatch.undo()
    forget_declared_options()


@pytest.fixture(scope="module")
def ring8_run(ring8_npz, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("registry") / "run"
    settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 16}, "steps": 20,
                                         "checkpoint_every": 20, "log_every": 10, "snapshots": 1})
    train_run(settings, ring8_npz, run, seed=0, threads=1)
    return run


def test_every_declared_score_can_be_shown():
    names = [s.name for s in registry.scores()]
    assert len(names) == len(set(names))
    assert {"fid", "precision", "modes", "memorization_ratio", "wasserstein", "conditional_accuracy"} <= set(names)
    for s in registry.scores():
        assert s.describe(evaluation_defaults()) and s.format(1.25) != "—" and s.kinds
        assert registry.family_of(s.name).compute is not None


def test_incomplete_declarations_fail_loudly():
    with pytest.raises(DeclarationError, match="better must be one of"):
        Score("x", "X", "best", "{:.2f}", "an x")
    with pytest.raises(DeclarationError, match="cannot print a number"):
        Score("x", "X", "higher", "{:d}", "an x")
    with pytest.raises(DeclarationError, match="needs a description"):
        Score("x", "X", "higher", "{:.2f}", "")
    score = Score("x", "X", "higher", "{:.2f}", "an x")
    with pytest.raises(DeclarationError, match="kinds"):
        Metric("x", dict, (score,), ("video",))
    with pytest.raises(DeclarationError, match="unknown need 'gpu'"):
        Metric("x", dict, (score,), ("image",), needs=("gpu",))
    with pytest.raises(DeclarationError, match="declares no score"):
        Metric("x", dict, (), ("image",))
    with pytest.raises(DeclarationError, match="already declared by 'fidelity'"):
        metric("fid_again", kinds=("image",), scores=(Score("fid", "FID", "lower", "{:.2f}", "again"),))(dict)
    with pytest.raises(DeclarationError, match="reads an option the evaluation section does not have"):
        Score("x", "X", "higher", "{:.2f}", lambda o: f"k = {o['no_such_option']}").describe(evaluation_defaults())


def test_an_option_is_declared_by_its_metric_alone(declared, ring8_run, ring8_npz, tmp_path):
    """A metric's own evaluation option lives in its declaration: the config then defaults it, checks it against
    the declared schema (the error names the key) and hands it to the metric; nothing else is edited."""
    option = Option("spread_points", 600, {"type": "integer", "minimum": 10,
                                           "description": "Samples of the toy spread metric."})

    def compute(ctx):
        import torch

        from ganbench.metrics.context import generate

        net, z_dim = ctx.generator
        n = int(ctx.options["spread_points"])
        points = torch.cat(list(generate(net, z_dim, n, 200, 0, ctx.device)))
        return {"spread": float(points.std()), "spread_samples": len(points)}

    with pytest.raises(ConfigError, match=r"^evaluation\.spread_points: .*unknown key|'spread_points' was unexpected"):
        Config({**RAW_CONFIG, "evaluation": {"spread_points": 50}})  # not declared yet
    declared(Metric("spread", compute, SPREAD.scores, ("points",), records=("spread_samples",), options=(option,)))
    assert Config(RAW_CONFIG).evaluation["spread_points"] == 600
    with pytest.raises(ConfigError, match=r"^evaluation\.spread_points: 5 is less than the minimum of 10"):
        Config({**RAW_CONFIG, "evaluation": {"spread_points": 5}})
    with pytest.raises(ConfigError, match=r"^evaluation.*spread_pts"):
        Config({**RAW_CONFIG, "evaluation": {"spread_pts": 50}})
    config = Config({**RAW_CONFIG, "evaluation": {"spread_points": 50, "batch_size": 200}})
    out = evaluate_run(ring8_run, ring8_npz, config.evaluation, tmp_path / "metrics.json")
    assert out["spread_samples"] == 50


def test_option_declarations_are_checked():
    with pytest.raises(DeclarationError, match="fails its own schema"):
        Option("x_samples", 1, {"type": "integer", "minimum": 2, "description": "x"})
    with pytest.raises(DeclarationError, match="needs a description"):
        Option("x_samples", 2, {"type": "integer"})
    with pytest.raises(DeclarationError, match="not a valid JSON schema"):
        Option("x_samples", 2, {"type": "integr", "description": "x"})
    score = Score("x", "X", "higher", "{:.2f}", "an x")
    with pytest.raises(DeclarationError, match="'kid_subsets' is already declared by 'fidelity'"):
        metric("x", kinds=("image",), scores=(score,),
               options=(Option("kid_subsets", 3, {"type": "integer", "description": "again"}),))(dict)
    # every shipped option: its default passes its schema (checked at declaration) and reaches the defaults
    from ganbench.config import EVALUATION_SHARED_DEFAULTS

    owned = registry.options()
    assert {"kid_subsets", "prc_neighborhood", "memorization_samples", "ppl_samples", "cas"} <= set(owned)
    assert not set(owned) & set(EVALUATION_SHARED_DEFAULTS)
    assert {k: evaluation_defaults()[k] for k in owned} == {k: o.default for k, o in owned.items()}


def test_an_option_that_a_metric_and_the_config_both_declare_is_refused(declared):
    score = Score("x", "X", "higher", "{:.2f}", "an x")
    declared(Metric("x", dict, (score,), ("image",),
                    options=(Option("num_samples", 10, {"type": "integer", "description": "again"}),)))
    with pytest.raises(DeclarationError, match="'num_samples' is declared by a metric and by ganbench.config"):
        evaluation_defaults()


def test_a_number_computed_without_a_declaration_stops_the_evaluation(declared, ring8_run, ring8_npz, tmp_path):
    """Not recorded as one run's failure: the metric module has a bug, and every run would lose the number."""
    declared(Metric("spread", spread, SPREAD.scores, ("points",)))  # spread_samples: not declared
    with pytest.raises(DeclarationError, match="'spread_samples', which its declaration lists neither"):
        evaluate_run(ring8_run, ring8_npz, OPTIONS, tmp_path / "metrics.json")
    declared(Metric("spread", lambda ctx: {}, SPREAD.scores, ("points",)))
    with pytest.raises(DeclarationError, match="did not return the declared score"):
        evaluate_run(ring8_run, ring8_npz, OPTIONS, tmp_path / "metrics.json")


def test_one_declaration_reaches_evaluation_tables_and_figures(declared, ring8_run, ring8_npz, tmp_path):
    declared(SPREAD)
    out = evaluate_run(ring8_run, ring8_npz, OPTIONS, tmp_path / "metrics.json")
    assert out["spread_samples"] == 600 and out["spread"] > 0
    # the report of a results tree whose metrics.csv has the column: a table with the declared label, direction,
    # format and the description for the config's options, and the declared figure; nothing else was edited
    df = metrics_frame()
    df["spread"] = [0.5 + 0.01 * i if kind == "points" else math.nan for i, kind in enumerate(df["kind"])]
    root = tmp_path / "tree"
    metrics = write_results(root, df)
    config = Config({**RAW_CONFIG, "evaluation": {"mixture_samples": 1234}})
    html = build_report(config, metrics, root / "results" / "report", results_dir=root / "results").read_text()
    page = Page(html)
    assert "spread" in page.tables and list(page.tables)[-1] == "spread"  # position 100: after the built-in ones
    assert set(page.tables["spread"]) >= {"A baseline"} and page.tables["spread"]["A baseline"][0].startswith("0.")
    assert "Spread (toy)" in html and "lower is better; sample std of 1,234 samples" in html
    assert "Spread over seeds (toy)" in html and any(f"spread_{POINTS}.png" in src for src in page.images)
    assert not any(f"spread_{IMAGE}.png" in src for src in page.images)  # declared for 2-D mixtures only


def test_descriptions_follow_the_evaluation_options(tmp_path):
    options = {**evaluation_defaults(), "prc_neighborhood": 7, "dc_neighborhood": 9, "stacked_samples": 12_345,
               "mode_min_share": 0.25, "mixture_samples": 999, "memorization_samples": 321}
    text = {s.name: s.describe(options) for s in registry.scores()}
    assert "k = 7" in text["precision"] and "k = 7" in text["recall"]
    assert "k = 9" in text["density"] and "k = 9" in text["coverage"]
    assert "12,345" in text["stacked_modes"] and "0.25" in text["classes_reached"]
    assert "999" in text["modes"] and "321" in text["memorization_ratio"]
    defaults = {s.name: s.describe(evaluation_defaults()) for s in registry.scores()}
    assert "k = 3" in defaults["precision"] and "26,000" in defaults["stacked_modes"]
    # and in the report, from the config's evaluation section
    root = tmp_path / "tree"
    metrics = write_results(root, metrics_frame())
    config = Config({**RAW_CONFIG, "evaluation": {"prc_neighborhood": 7}})
    html = build_report(config, metrics, root / "results" / "report", results_dir=root / "results").read_text()
    assert "Kynkäänniemi et al. 2019, k = 7" in html and "k = 3" not in html


def test_cas_reaches_the_report_with_its_real_data_row(tmp_path):
    """CAS is declared in its own module only; the report shows its table, with the description for the config's
    options and the real-data classifier's accuracy as the data row."""
    import json

    df = metrics_frame()
    df["cas"] = [0.5 + 0.01 * i if kind == "image" else math.nan for i, kind in enumerate(df["kind"])]
    root = tmp_path / "tree"
    metrics = write_results(root, df)
    floor_path = root / "results" / "features" / IMAGE / "floor.json"
    floor = json.loads(floor_path.read_text())
    floor["metrics"]["cas"] = 0.8125
    floor_path.write_text(json.dumps(floor))
    config = Config({**RAW_CONFIG, "evaluation": {"cas": {"samples": 4321, "epochs": 3}}})
    html = build_report(config, metrics, root / "results" / "report", results_dir=root / "results").read_text()
    page = Page(html)
    assert "cas" in page.tables
    assert page.tables["cas"]["data (real vs real)"] == ["0.812"]
    assert "Classification accuracy score (CAS)" in html and "higher is better" in html
    assert "trained for 3 epoch(s) on 4,321 generated samples" in html


def test_metric_conditions_ask_the_registries_not_names():
    from ganbench.metrics.conditional import is_conditional
    from ganbench.metrics.critic import is_wasserstein

    gan = {"architecture": {"name": "mlp"}, "loss": {"name": "wgan-gp"}}
    assert is_wasserstein(gan) and not is_wasserstein({**gan, "loss": {"name": "hinge"}})
    for baseline in ("vae", "autoencoder"):  # no critic, whatever the loss setting says
        assert not is_wasserstein({**gan, "architecture": {"name": baseline}})
    assert not is_conditional({}) and not is_conditional({"conditional": "none"})
    assert is_conditional({"conditional": "concat"}) and is_conditional({"conditional": "projection"})
    with pytest.raises(Exception, match="unknown conditioning 'colour'"):
        is_conditional({"conditional": "colour"})
