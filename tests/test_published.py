"""Published numbers beside ours: the shipped reference file loads and is well formed, malformed files fail with
a message that names the entry and key, and the report shows a paper's numbers in their own column, with the note
on feature extractors, exactly where a config runs the paper's methods on the paper's datasets.

The report tests build a small synthetic results tree with tests/test_report.py's ``write_results`` (2-D mixtures
only, variants named as in config/modes.yaml) and, for the layout, a test-only reference file whose numbers are made
up (and say so); one test reads the shipped file's PacGAN Table 1.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ganbench.config import Config
from ganbench.metrics.registry import score_registry
from ganbench.report.build import build_report
from ganbench.report.published import PUBLISHED_PATH, PublishedError, load_published, parse_published, published_view
from ganbench.report.tables import build_table
from test_report import Page, write_results

REPO = Path(__file__).resolve().parent.parent
SEEDS = [0, 1, 2]

# config/modes.yaml's names and labels, on the two mixtures, with a small fully connected network.
MODES_CONFIG = {
    "title": "published-numbers test",
    "seeds": SEEDS,
    "datasets": {"ring8": {}, "grid25": {}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 16}, "z_dim": 8, "steps": 40},
    "variants": [
        {"name": "vanilla", "label": "GAN"},
        {"name": "pacgan2", "label": "PacGAN2", "tricks": {"pacgan": {"packing": 2}}},
        {"name": "unrolled5", "label": "Unrolled GAN, 5 steps", "tricks": {"unrolled": {"steps": 5}}},
    ],
    "report": {"bootstrap": 200},
}
# Our made-up results: modes captured per (dataset, variant), one value per seed.
OUR_MODES = {("ring8", "vanilla"): [6.0, 7.0, 8.0], ("ring8", "pacgan2"): [8.0, 7.0, 8.0],
             ("ring8", "unrolled5"): [7.0, 7.0, 8.0], ("grid25", "vanilla"): [17.0, 18.0, 19.0],
             ("grid25", "pacgan2"): [24.0, 25.0, 23.0], ("grid25", "unrolled5"): [20.0, 21.0, 22.0]}

# A reference file for the tests only. Its numbers are invented (obviously so: a 2099 paper), not PacGAN's.
FAKE_REFERENCE = {
    "tables": [{
        "id": "test_mixtures",
        "citation": {"authors": ["A. Tester"], "title": "Made-up numbers for the report test", "venue": "Nowhere",
                     "year": 2099, "arxiv": "0000.00000"},
        "table": "Table 1",
        "label": "Tester 2099, Table 1",
        "read_in": {"invented": "invented for tests/test_published.py"},
        "protocol": {"note": "none: test data"},
        "feature_extractor": {"name": "none", "description": "no feature extractor (nearest mixture centre)",
                              "ganbench": ["none"]},
        "datasets": {"Ring": "ring8", "Grid": "grid25"},
        "metrics": {"Modes": "modes", "HQ": "hq_percent"},
        "variants": {"GAN": ["vanilla"], "PacGAN2": ["pacgan2"]},
        "requires": {"architecture.name": "mlp"},
        "rows": {
            "GAN": {"Ring": {"Modes": {"mean": 5.25, "std": 0.75}, "HQ": {"mean": 91.5, "std": 1.25}},
                    "Grid": {"Modes": {"mean": 16.5, "std": 0.25}}},
            "PacGAN2": {"Ring": {"Modes": {"mean": 7.75, "std": 0.125}},
                        "Grid": {"Modes": {"mean": 23.5}}},
        },
    }],
}


def write_reference(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def modes_frame(variants: list[str]) -> pd.DataFrame:
    """metrics.csv for the 2-D mixtures: every run finished; image metrics absent."""
    rows = []
    for (dataset, variant), values in OUR_MODES.items():
        if variant not in variants:
            continue
        for seed, modes in zip(SEEDS, values):
            rows.append({"dataset": dataset, "variant": variant, "seed": seed, "status": "ok", "kind": "points",
                         "steps": 40, "setup_seconds": 1.0, "train_seconds": 4.0, "total_train_job_seconds": 6.0,
                         "eval_seconds": 2.0, "images_per_second": 1000.0, "device": "cpu:1 threads", "message": "",
                         "modes": modes, "hq_percent": 90.0 + seed, "reverse_kl": 0.1 * (seed + 1)})
    return pd.DataFrame(rows)


def table_headers(html: str, metric: str) -> list[str]:
    """The header cells of one ablation table, as text."""
    match = re.search(rf'<table class="ablation" data-metric="{metric}">.*?</thead>', html, re.S)
    assert match, f"no table for {metric}"
    cells = re.findall(r"<th[^>]*>(.*?)</th>", match.group(0), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]


def notes_after(html: str, metric: str) -> list[str]:
    """The published-numbers notes between one ablation table and the next heading."""
    start = html.index(f'data-metric="{metric}"')
    end = html.find("<h3", start)
    section = html[start:end if end >= 0 else None]
    return [" ".join(re.sub(r"<[^>]+>", " ", n).split())
            for n in re.findall(r'<p class="note published-note">(.*?)</p>', section, re.S)]


# ---------------------------------------------------------------------------------------------- the shipped file
def test_shipped_reference_loads_and_every_table_has_a_citation_and_numbers():
    published = load_published()
    assert published.source == str(PUBLISHED_PATH)
    assert published.tables, "no published table at all"
    for table in published.tables:
        c = table.citation
        assert c["authors"] and c["title"] and c["venue"] and 1990 < c["year"] < 2100 and c["arxiv"], table.id
        assert table.table and table.label and table.read_in, table.id
        assert table.rows, table.id
        for row, by_dataset in table.rows.items():
            assert table.row_sources[row], (table.id, row)
            for dataset, by_metric in by_dataset.items():
                assert dataset in table.datasets
                for metric, value in by_metric.items():
                    assert metric in table.metrics
                    assert math.isfinite(value.mean) and (value.std is None or value.std >= 0)
        assert all(m in score_registry() for m in table.metrics.values())
    for entry in published.pending:  # tables asked for but not read: a reason, and no numbers
        assert entry.reason and not entry.rows and entry.citation["arxiv"], entry.id


def test_lucic_table_holds_the_numbers_both_sources_agree_on():
    lucic = next(t for t in load_published().tables if t.id == "lucic2018_fid")
    assert lucic.citation["arxiv"] == "1711.10337" and lucic.label == "Lucic et al. 2018, Table 2"
    assert lucic.extractor == "inception-v3" and lucic.comparable == ("inception-v3-compat",)
    assert lucic.datasets == {"MNIST": "mnist", "FASHION-MNIST": "fashion_mnist", "CIFAR-10": "cifar10",
                              "CELEBA": "celeba64"}
    assert lucic.metrics == {"FID": "fid"}
    assert lucic.value("NS GAN", "MNIST", "FID").text() == "6.8 ± 0.5"
    assert lucic.value("WGAN GP", "MNIST", "FID").text() == "20.3 ± 5.0"  # the paper's digits
    assert lucic.value("NS GAN", "CELEBA", "FID").text() == "55.0 ± 3.3"
    assert lucic.value("MM GAN", "CELEBA", "FID").text() == "65.6 ± 4.2"
    # where the quoting papers disagree the number is left out
    assert lucic.value("LSGAN", "CIFAR-10", "FID") is None
    assert lucic.value("WGAN GP", "CELEBA", "FID") is None
    assert "VAE" not in lucic.rows


def test_variant_hints_name_variants_of_the_shipped_configs():
    names: set[str] = set()
    for path in (REPO / "config").glob("*.yaml"):
        names |= {v["name"] for v in yaml.safe_load(path.read_text())["variants"]}
    published = load_published()
    for entry in published.tables + published.pending:
        for row, hinted in entry.variants.items():
            assert set(hinted) <= names, (entry.id, row, set(hinted) - names)
    lucic = Config.load(REPO / "config" / "lucic2018.yaml")
    lucic_table = published.tables[0]
    hinted = {v for names_ in lucic_table.variants.values() for v in names_}
    assert hinted == set(lucic.variant_names) - {"vae"}  # every GAN of the config has its row


# ---------------------------------------------------------------------------------------------- validation
def broken(edit) -> dict:
    data = copy.deepcopy(FAKE_REFERENCE)
    edit(data["tables"][0])
    return data


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.pop("citation"), r"tables\[0\] \(test_mixtures\): missing key\(s\) 'citation'"),
    (lambda t: t["citation"].pop("arxiv"), r"citation: missing key\(s\) 'arxiv'"),
    (lambda t: t["citation"].update(year="2099"), r"citation.year: expected a year"),
    (lambda t: t["datasets"].update(Ring="ring9"), r"datasets.Ring: unknown ganbench dataset 'ring9'"),
    (lambda t: t["metrics"].update(Modes="mode"), r"metrics.Modes: unknown ganbench metric 'mode'"),
    (lambda t: t["rows"]["GAN"].update(Star={"Modes": {"mean": 1}}), r"rows.GAN.Star: not a dataset of this table"),
    (lambda t: t["rows"]["GAN"]["Ring"].update(KL={"mean": 1}), r"rows.GAN.Ring.KL: not a metric of this table"),
    (lambda t: t["rows"]["GAN"]["Ring"]["Modes"].update(mean="7"), r"rows.GAN.Ring.Modes.mean: expected a finite"),
    (lambda t: t["rows"]["GAN"]["Ring"]["Modes"].update(std=-1), r"rows.GAN.Ring.Modes.std: must not be negative"),
    (lambda t: t["rows"]["GAN"]["Ring"]["Modes"].update(sd=1), r"rows.GAN.Ring.Modes: unknown key\(s\) 'sd'"),
    (lambda t: t["rows"]["GAN"].update(read_in=["memory"]), r"rows.GAN.read_in: unknown source 'memory'"),
    (lambda t: t["rows"].update(ALI={}), r"rows.ALI: must not be empty"),
    (lambda t: t.update(rows={}), r"rows: must not be empty"),
    (lambda t: t["variants"].update(ALI=["ali"]), r"variants.ALI: no such row"),
    (lambda t: t.update(colour="red"), r"unknown key\(s\) 'colour'"),
])
def test_malformed_reference_names_the_key_at_fault(edit, message):
    with pytest.raises(PublishedError, match=message):
        parse_published(broken(edit), "ref.yaml")


def test_malformed_reference_file_level_errors(tmp_path):
    with pytest.raises(PublishedError, match="top level: missing key"):
        parse_published({"pending": []})
    with pytest.raises(PublishedError, match="top level: unknown key"):
        parse_published({"tables": [], "extra": 1})
    twice = copy.deepcopy(FAKE_REFERENCE)
    twice["tables"].append(copy.deepcopy(twice["tables"][0]))
    with pytest.raises(PublishedError, match="test_mixtures: duplicate id"):
        parse_published(twice)
    pending = {"tables": [], "pending": [{**copy.deepcopy(FAKE_REFERENCE["tables"][0]), "reason": "x"}]}
    with pytest.raises(PublishedError, match=r"pending\[0\] \(test_mixtures\): unknown key\(s\) 'read_in', 'rows'"):
        parse_published(pending)
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [unclosed\n")
    with pytest.raises(PublishedError, match="bad.yaml: not valid YAML"):
        load_published(bad)
    with pytest.raises(PublishedError, match="not found"):
        load_published(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------- matching
def test_lucic_column_needs_the_protocols_architecture(tmp_path):
    """ns-gan on the DCGAN of config/lucic2018.yaml gets the paper's FID beside it; a same-named variant on a
    fully connected network (config/config.yaml style) does not, and the note says the extractors differ."""
    published = load_published()
    raw = {"seeds": [0, 1], "datasets": {"fashion_mnist": {}},
           "defaults": {"architecture": {"name": "dcgan", "width": 8}, "steps": 10},
           "variants": [{"name": "ns-gan", "label": "NS GAN"},
                        {"name": "wgan-gp", "loss": "wgan-gp",  # a gradient penalty needs a critic without BatchNorm
                         "architecture": {"name": "dcgan", "width": 8, "batchnorm_d": False, "layernorm_d": True}},
                        {"name": "lsgan", "loss": "lsgan", "architecture": {"name": "mlp", "hidden": 16}}]}
    config = Config(raw)
    df = pd.DataFrame([{"dataset": "fashion_mnist", "variant": v, "seed": s, "status": "ok", "kind": "image",
                        "fid": 30.0 + s} for v in ("ns-gan", "wgan-gp", "lsgan") for s in (0, 1)])
    variants = [(v, config.label(v)) for v in config.variant_names]
    table = build_table(df, "fid", variants, ["fashion_mnist"], "ns-gan", 200)
    view = published_view(table, config, published)
    [column] = view["columns"]["fashion_mnist"]
    assert column["label"] == "Lucic et al. 2018, Table 2"
    assert column["cells"] == {"ns-gan": "26.5 ± 1.6", "wgan-gp": "24.5 ± 2.1"}  # lsgan: not on the DCGAN
    assert "arXiv:1711.10337" in column["title"] and "Dai & Wipf" in column["title"]
    [note] = view["notes"]
    assert "Inception-v3" in note and "evaluation.feature_extractor = ganbench-classifier" in note
    assert "not comparable" in note
    # with Inception features the note says the measurement is of the same kind
    weights = tmp_path / "pt_inception-2015-12-05.pth"  # the config check wants the weights file to exist
    weights.write_bytes(b"")
    inception = Config({**raw, "evaluation": {"feature_extractor": "inception-v3-compat",
                                              "feature_extractor_weights": str(weights)}})
    [note] = published_view(table, inception, published)["notes"]
    assert "same kind of measurement" in note and "not comparable" not in note
    # a KID table: no published table maps KID, so nothing is added
    df["kid"] = 0.01
    kid = build_table(df, "kid", variants, ["fashion_mnist"], "ns-gan", 200)
    assert published_view(kid, config, published) == {"columns": {}, "notes": []}


def test_dataset_aliases_match_through_their_type():
    published = parse_published(FAKE_REFERENCE)
    raw = copy.deepcopy(MODES_CONFIG)
    raw["datasets"] = {"my_ring": {"type": "ring8"}}
    config = Config(raw)
    df = modes_frame(["vanilla"]).query("dataset == 'ring8'").assign(dataset="my_ring")
    table = build_table(df, "modes", [("vanilla", "GAN")], ["my_ring"], "vanilla", 200)
    view = published_view(table, config, published)
    assert view["columns"]["my_ring"][0]["cells"] == {"vanilla": "5.25 ± 0.75"}


# ---------------------------------------------------------------------------------------------- the report
@pytest.fixture(scope="module")
def modes_report(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("published")
    reference = write_reference(root / "reference.yaml", FAKE_REFERENCE)
    metrics = write_results(root, modes_frame(["vanilla", "pacgan2", "unrolled5"]))
    index = build_report(Config(MODES_CONFIG), metrics, root / "results" / "report", results_dir=root / "results",
                         published=reference)
    return index.read_text()


def test_report_shows_published_column_beside_each_matching_dataset(modes_report):
    header = "published (Tester 2099, Table 1)"
    assert table_headers(modes_report, "modes") == [
        "Configuration", "ring8", f"{header} ring8", "grid25", f"{header} grid25"]
    rows = Page(modes_report).tables["modes"]
    assert list(rows) == ["GAN", "PacGAN2", "Unrolled GAN, 5 steps"]  # config order, labels
    gan, pac, unrolled = rows["GAN"], rows["PacGAN2"], rows["Unrolled GAN, 5 steps"]
    assert gan[0].startswith("7.0 ± 1.0 n=3") and gan[2].startswith("18.0 ± 1.0 n=3")  # ours
    assert (gan[1], gan[3]) == ("5.25 ± 0.75", "16.5 ± 0.25")  # the paper's, beside ours
    assert (pac[1], pac[3]) == ("7.75 ± 0.125", "23.5")  # a number without a std is shown alone
    assert (unrolled[1], unrolled[3]) == ("—", "—")  # the paper has no such row
    # HQ %: only the ring has a published number; reverse KL: none at all
    assert table_headers(modes_report, "hq_percent") == ["Configuration", "ring8", f"{header} ring8", "grid25"]
    assert Page(modes_report).tables["hq_percent"]["GAN"][1] == "91.5 ± 1.25"
    assert table_headers(modes_report, "reverse_kl") == ["Configuration", "ring8", "grid25"]
    assert notes_after(modes_report, "reverse_kl") == []


def test_report_notes_the_feature_extractors(modes_report):
    [note] = notes_after(modes_report, "modes")
    assert note.startswith("Published (Tester 2099, Table 1): no feature extractor")
    assert "Ours: no feature extractor (each sample is assigned to its nearest mixture centre)" in note
    assert "evaluation.feature_extractor = ganbench-classifier applies to the image metrics only" in note
    assert "same kind of measurement" in note  # both assign samples to the nearest centre
    assert "Made-up numbers for the report test" in modes_report  # the citation, in the header's hover text
    assert "Where a config follows a paper's protocol" in modes_report


def test_report_without_matching_variants_has_no_published_column(tmp_path):
    raw = copy.deepcopy(MODES_CONFIG)
    raw["variants"] = [{"name": "alpha", "label": "A  baseline"}, {"name": "beta", "label": "B  + packing"}]
    df = modes_frame(["vanilla", "pacgan2"]).replace({"variant": {"vanilla": "alpha", "pacgan2": "beta"}})
    reference = write_reference(tmp_path / "reference.yaml", FAKE_REFERENCE)
    metrics = write_results(tmp_path, df)
    html = build_report(Config(raw), metrics, tmp_path / "results" / "report", results_dir=tmp_path / "results",
                        published=reference).read_text()
    assert 'class="published' not in html and "published (Tester" not in html and "published-note" not in html
    assert table_headers(html, "modes") == ["Configuration", "ring8", "grid25"]
    assert all(len(cells) == 2 for cells in Page(html).tables["modes"].values())


def test_report_with_the_shipped_reference_shows_pacgan_table_1_beside_ours(tmp_path):
    """The default reference file is read when none is given; a config that runs PacGAN's methods on the 2-D
    mixtures with a fully connected network gets the paper's Table 1 beside its own numbers."""
    metrics = write_results(tmp_path, modes_frame(["vanilla", "pacgan2"]))
    raw = copy.deepcopy(MODES_CONFIG)
    raw["variants"] = raw["variants"][:2]
    html = build_report(Config(raw), metrics, tmp_path / "results" / "report",
                        results_dir=tmp_path / "results").read_text()
    header = "published (Lin et al. 2018, Table 1)"
    assert table_headers(html, "modes") == ["Configuration", "ring8", f"{header} ring8", "grid25",
                                            f"{header} grid25"]
    rows = Page(html).tables["modes"]
    assert (rows["GAN"][1], rows["GAN"][3]) == ("6.3 ± 0.5", "17.3 ± 0.8")
    assert (rows["PacGAN2"][1], rows["PacGAN2"][3]) == ("7.9", "23.8")
    assert Page(html).tables["hq_percent"]["GAN"][1] == "98.2"
    assert "PacGAN: The power of two samples" in html


def test_pacgan_anchors_hold_the_papers_tables():
    tables = {t.id: t for t in load_published().tables}
    ring = tables["lin2018_pacgan_synthetic"]
    assert ring.citation["arxiv"] == "1712.04086" and ring.table == "Table 1"
    assert ring.value("PacGAN4", "2D-grid", "reverse KL").text() == "0.04"
    assert ring.value("ALI", "2D-ring", "Modes").text() == "6.6" and ring.variants["ALI"] == ()
    veegan = tables["lin2018_pacgan_stacked_mnist_veegan"]
    assert veegan.value("DCGAN (PacGAN's rerun)", "Stacked MNIST", "Modes").text() == "78.9 ± 6.5"
    assert veegan.value("PacDCGAN2, 3, 4", "Stacked MNIST", "KL") is None  # printed as a range only
    quarter, half = tables["lin2018_pacgan_stacked_mnist_quarter"], tables["lin2018_pacgan_stacked_mnist_half"]
    assert quarter.value("DCGAN", "Stacked MNIST", "Modes").text() == "30.6 ± 20.7"
    assert half.value("PacDCGAN3", "Stacked MNIST", "KL").text() == "0.9"
    assert {t.datasets["Stacked MNIST"] for t in (veegan, quarter, half)} == {"stacked_mnist"}
