"""Build ``results/report/index.html``: one self-contained folder (HTML + PNGs) that opens from disk.

Inputs: the config (variant order and labels, baseline), ``metrics.csv``, and the run folders under
``results/runs`` (log.csv, samples, metrics.json with the FID curve, generator.pt, the newest checkpoint) plus the
per-dataset floor and classifier records and the prepared data (for nearest training neighbours). jinja2 renders
with autoescaping on, so names from the config can never inject markup. Where a paper's table in
``ganbench/reference/published.yaml`` matches an ablation table (same metric, one of our datasets, a variant that
runs one of its rows), its numbers appear in their own column with a note on the feature extractors (published.py).

The parts: the tables of every declared metric score (``ganbench.metrics.registry``, ``tables``) with what the page
says around them (``views``), the plots (``figures``: training curves and the figures the metrics declare), the
pictures from the networks (``pictures``), the cost accounting (``costs``) and the provenance (``provenance``).

The report never fails because runs failed: a metric that no run produced (every seed diverged) leaves its
cells as "—" with the diverged count, and a plot with no finite value to show is left out. Pictures computed
from the networks (interpolations, D's filters, neighbours) are extras: when one cannot be made, the report says
why in its place.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ganbench.config import Config
from ganbench.io import write_text
from ganbench.metrics import registry
from ganbench.report import costs, pictures, provenance, views
from ganbench.report.figures import figures, read_json
from ganbench.report.published import Published, PublishedTable, load_published, published_view
from ganbench.report.search import search_section
from ganbench.report.stylegan import GROUPED, effective_settings, mixing_table, ppl_notes
from ganbench.report.tables import build_table


def _number(value: Any, digits: int = 1) -> str:
    """Jinja filter ``num``: a number with ``digits`` decimals, "—" for missing, NaN or non-numbers."""
    value = views.seconds(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else "—"


# ---------------------------------------------------------------------------------------------- entry point
def _published(published: str | Path | Published | list[PublishedTable] | None) -> Published:
    """The published tables to show beside ours: the file shipped with ganbench unless told otherwise."""
    if isinstance(published, Published):
        return published
    if published is None or isinstance(published, (str, Path)):
        return load_published(published)
    return Published(tuple(published))


def build_report(config: Config, metrics_csv: str | Path, out_dir: str | Path,
                 results_dir: str | Path = "results",
                 published: str | Path | Published | list[PublishedTable] | None = None) -> Path:
    """``published``: the published-numbers file (or its tables) for the columns beside ours; default
    ganbench/reference/published.yaml."""
    out, results = Path(out_dir), Path(results_dir)
    reference = _published(published)
    (out / "img").mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(metrics_csv)
    df["seed"] = df["seed"].astype(int)
    variants = [(v, config.label(v)) for v in config.variant_names]
    labels = dict(variants)
    order = [v for v, _ in variants]
    datasets = [d for d in config.datasets if d in set(df["dataset"])]
    floors = {d: (read_json(results / "features" / d / "floor.json") or {}).get("metrics", {}) for d in datasets}
    classifiers = {d: read_json(results / "classifier" / d / "info.json") for d in datasets}

    tables = [views.table_view(t, df, len(config.seeds)) for t in (
        build_table(df, score.name, variants, datasets, config.baseline(), config.report["bootstrap"], floors,
                    config.evaluation)
        for score in registry.scores() if score.name not in GROUPED) if t is not None]  # (mixed FIDs: one table)
    for view in tables:
        view["published"] = published_view(view["t"], config, reference)
        view["quality"] = views.mixture_quality_notes(view["t"], df, labels)
        if registry.family_of(view["t"].metric.name).name == "ppl":
            view["quality"] += ppl_notes(df)

    env = Environment(loader=PackageLoader("ganbench.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["num"] = _number
    html = env.get_template("index.html.j2").render(
        title=config.title,
        incomplete=views.incomplete(df, config, results),
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        tables=tables,
        settings=effective_settings(config),
        mixing=mixing_table(df, config, datasets, config.report["bootstrap"]),
        variants=variants,
        baseline=config.label(config.baseline()),
        alpha=config.report["alpha"],
        significance=views.significance(len(config.seeds), config.report["alpha"]),
        bootstrap=config.report["bootstrap"],
        figures=figures(df, config, results, out, datasets, order, lambda path: os.path.relpath(path, out)),
        search=search_section(config, results, labels),
        datasets=datasets,
        samples=pictures.sample_images(df, config, results, out, order, datasets),
        networks=pictures.network_pictures(df, config, results, out, order, datasets),
        timing=costs.time_breakdown(df, order, labels, datasets, results),
        runs=views.run_list(df, results, out, labels, order),
        classifiers=classifiers,
        evaluation=config.evaluation,
        config_yaml=yaml.safe_dump(config.raw, sort_keys=False, allow_unicode=True),
        versions=provenance.versions(),
        commit=provenance.git_commit(),
        machine=provenance.machine(),
    )
    write_text(out / "index.html", html)
    return out / "index.html"
