"""Build ``results/report/index.html``: one self-contained folder (HTML + PNGs) that opens from disk.

Inputs: the config (variant order and labels, baseline), ``metrics.csv``, and the run folders under
``results/runs`` (log.csv, samples, metrics.json with the FID curve, generator.pt, the newest checkpoint) plus the
per-dataset floor and classifier records and the prepared data (for nearest training neighbours). jinja2 renders
with autoescaping on, so names from the config can never inject markup. Where a paper's table in
``ganbench/reference/published.yaml`` matches an ablation table (same metric, one of our datasets, a variant that
runs one of its rows), its numbers appear in their own column with a note on the feature extractors (published.py).

The report never fails because runs failed: a metric that no run produced (every seed diverged) leaves its
cells as "—" with the diverged count, and a plot with no finite value to show is left out. Pictures computed
from the networks (interpolations, D's filters, neighbours) are extras: when one cannot be made, the report says
why in its place.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ganbench.config import Config
from ganbench.errors import GanbenchError
from ganbench.io import atomic_open, write_text
from ganbench.metrics import registry
from ganbench.report.figures import figures, ranked
from ganbench.report.published import Published, PublishedTable, load_published, published_view
from ganbench.report.search import search_section
from ganbench.report.tables import Table, build_table
from ganbench.runs import run_path

log = logging.getLogger(__name__)

DIFFUSE_HQ = 50.0  # mean high-quality % below which a mixture table says its generators are diffuse
# Errors that make one network picture impossible (missing or unreadable file, a state dict that does not fit).
PICTURE_ERRORS = (GanbenchError, OSError, RuntimeError, KeyError, ValueError, IndexError, TypeError)


# ---------------------------------------------------------------------------------------------- small helpers
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("ganbench", "torch", "torchvision", "torch-fidelity", "snakemake", "numpy", "pandas", "seaborn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git_commit() -> str:
    """Short commit of the ganbench checkout, with "+changes" when tracked files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=5).stdout.strip()
        if not commit:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + (" +changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _copy(src: Path, dst: Path) -> bool:
    if not src.is_file():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, atomic_open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return True


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def _run_dir(results: Path, dataset: str, variant: str, seed: Any) -> Path:
    return run_path(results, dataset, variant, seed)


def _seconds(value: Any) -> float:
    """A number from the metrics table as a float; NaN when missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _number(value: Any, digits: int = 1) -> str:
    """Jinja filter ``num``: a number with ``digits`` decimals, "—" for missing, NaN or non-numbers."""
    value = _seconds(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else "—"


# ---------------------------------------------------------------------------------------------- tables
def _metric_order() -> list[str]:
    """Every declared score, in the metrics' order (``Metric.position``)."""
    return [s.name for s in registry.scores()]


def _failure_word(statuses: pd.Series) -> str:
    bad = set(statuses[statuses != "ok"])
    return "diverged" if bad <= {"diverged"} else "diverged/failed" if "diverged" in bad else "failed"


def _table_view(table: Table, df: pd.DataFrame, seeds: int) -> dict[str, Any]:
    """The table plus what the template prints around it: per cell the diverged/failed count ("k/N diverged"),
    finished runs without a value and the test's p-value; under the table, the sentence on the seeds."""
    cells: dict[str, dict[str, dict[str, str]]] = {}
    n_ok: list[int] = []
    bad_total = missing_total = runs_total = 0
    for variant, _, row in table.rows:
        for dataset in table.datasets:
            cell = row.get(dataset)
            if cell is None:
                continue
            runs = df[(df["variant"] == variant) & (df["dataset"] == dataset)]
            ok = runs["status"] == "ok"
            bad = int((~ok).sum())
            missing = max(int(ok.sum()) - cell.n, 0)
            cells.setdefault(variant, {})[dataset] = {
                "bad": f"{bad}/{len(runs)} {_failure_word(runs['status'])}" if bad else "",
                "missing": f"{missing}/{len(runs)} without a value" if missing else "",
                "p": _p_text(cell),
            }
            n_ok.append(cell.n)
            bad_total, missing_total, runs_total = bad_total + bad, missing_total + missing, runs_total + len(runs)
    counted = f"{runs_total} run(s) in this table, {seeds} seed(s) configured"
    filled = [n for n in n_ok if n > 0]
    if filled:
        lo, hi = min(filled), max(filled)
        sentence = f"Means rest on {lo if lo == hi else f'{lo}–{hi}'} seed(s) per cell ({counted})."
        if len(filled) < len(n_ok):
            sentence += f" {len(n_ok) - len(filled)} cell(s) have no finished seed with a value."
    else:
        sentence = f"No run produced this metric ({counted})."
    if bad_total:
        sentence += (f" {bad_total} diverged or failed run(s) are counted in their cells and left out of every "
                     "mean, standard deviation, interval and test.")
    if missing_total:
        sentence += f" {missing_total} finished run(s) have no value for this metric and are left out likewise."
    return {"t": table, "cells": cells, "sentence": sentence}


def _p_text(cell: Any) -> str:
    """The hover text of a cell's test against the baseline."""
    c = cell.comparison
    if c is None:
        return ""
    floor = f"; the smallest p it can give for {cell.n} vs the baseline's seeds is {c.min_p:.3g}" if c.min_p else ""
    return f"{c.test} vs baseline: p = {c.p_value:.3g}{floor}"


def _significance(seeds: int, alpha: float) -> dict[str, Any]:
    """What the tables' note says about the test for the configured seed count: its name, the smallest p it can
    give with every seed finished on both sides, and whether that can reach ``alpha`` at all."""
    from ganbench.report import stats

    floor = stats.min_attainable_p(seeds, seeds)
    exact = seeds >= 2 and stats.exact_feasible(seeds, seeds)
    test = stats.EXACT if exact or seeds < 2 else f"{stats.WELCH} (a {stats.RANDOMIZED} where a group is constant)"
    needed = next(n for n in range(2, 1000) if stats.min_attainable_p(n, n) < alpha)
    return {"seeds": seeds, "test": test, "min_p": floor, "reachable": math.isfinite(floor) and floor < alpha,
            "exact": exact, "needed": needed, "needed_p": stats.min_attainable_p(needed, needed)}


def _mixture_quality_notes(table: Table, df: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    """Under the 2-D mixtures' "modes captured" table: which variants are diffuse generators, whose mode counts say
    where stray samples land rather than which modes they model (mean high-quality % below ``DIFFUSE_HQ``)."""
    if table.metric.name != "modes" or "hq_percent" not in df.columns:
        return []
    notes = []
    for dataset in table.datasets:
        ok = df[(df["dataset"] == dataset) & (df["status"] == "ok")]
        hq = pd.to_numeric(ok["hq_percent"], errors="coerce").groupby(ok["variant"]).mean().dropna()
        diffuse = [f"{labels[v]} ({hq[v]:.0f} %)" for v in labels if v in hq.index and hq[v] < DIFFUSE_HQ]
        if diffuse:
            notes.append(f"{dataset}: {len(diffuse)} of {len(hq)} configurations put under {DIFFUSE_HQ:.0f} % of their "
                         f"samples within 3σ of a mode: {', '.join(diffuse)}. These generators are diffuse, not "
                         "converged (a trained 2-D GAN puts nearly all its samples there, even when it collapses): "
                         "a mode they 'capture' may hold a few stray samples. Read the modes reached and the per-run "
                         "histograms under Plots beside the count.")
    return notes


# ---------------------------------------------------------------------------------------------- time
def _col(frame: pd.DataFrame, name: str, fallback: str | None = None) -> pd.Series:
    values = pd.to_numeric(frame[name], errors="coerce") if name in frame.columns else pd.Series(np.nan, frame.index)
    return values.fillna(_col(frame, fallback)) if fallback else values


def _run_costs(frame: pd.DataFrame) -> dict[str, Any]:
    """CPU seconds of some runs' jobs, summed: the training steps; the rest of the training job (interpreter
    start-up, imports, data, models, checkpoints, snapshots, sample grid); evaluation (each run's own evaluation
    plus its share of its evaluate job's start-up and loading). Wall seconds stand in where a metrics file from an
    older ganbench has no CPU times."""
    train = _col(frame, "train_cpu_seconds", "train_seconds")
    job = _col(frame, "train_job_cpu_seconds", "total_train_job_seconds").fillna(train)
    own_eval = _col(frame, "eval_cpu_seconds", "eval_seconds").fillna(0)
    eval_setup = (_col(frame, "eval_job_setup_cpu_seconds") / _col(frame, "eval_job_runs")).fillna(0)
    other, evaluation = (job - train).clip(lower=0).fillna(0), own_eval + eval_setup
    return {"runs": len(frame), "train": float(train.sum()), "other": float(other.sum()),
            "eval": float(evaluation.sum()), "eval_setup": float(eval_setup.sum())}


def _share(row: dict[str, Any], shared: float = 0.0) -> dict[str, Any]:
    total = row["train"] + row["other"] + row["eval"] + shared
    return {**row, "shared": shared, "total": total,
            "share": 100.0 * row["train"] / total if total > 0 else math.nan,
            "eval_ratio": 100.0 * row["eval"] / row["train"] if row["train"] > 0 else math.nan}


def _shared_costs(results: Path, datasets: list[str]) -> list[dict[str, Any]]:
    """CPU seconds of the once-per-dataset jobs, as each recorded them: prepare (in the .npz meta), the domain
    classifier (info.json) and the real features with the floor (floor.json); NaN where a dataset has no such job."""
    rows = []
    for dataset in datasets:
        parts: dict[str, float] = {}
        try:
            with np.load(results / "data" / f"{dataset}.npz", allow_pickle=False) as z:
                parts["prepare"] = float(json.loads(bytes(z["meta"]).decode()).get("prepare_cpu_seconds", math.nan))
        except (OSError, ValueError, KeyError):
            parts["prepare"] = math.nan
        for name, path in (("classifier", results / "classifier" / dataset / "info.json"),
                           ("features", results / "features" / dataset / "floor.json")):
            record = _read_json(path) or {}  # ring/grid datasets have neither
            parts[name] = float(record.get("job_cpu_seconds", math.nan))
        rows.append({"dataset": dataset, **parts,
                     "total": float(np.nansum(list(parts.values())))})
    return rows


def _time_breakdown(df: pd.DataFrame, order: list[str], labels: dict[str, str], datasets: list[str],
                    results: Path) -> dict[str, Any] | None:
    """CPU seconds per (dataset, variant), summed over seeds (``_run_costs``), the once-per-dataset jobs, and the
    share of all of it spent in training steps. Not counted: Snakemake itself and the aggregate and report jobs,
    which run after every number here was written."""
    if "train_seconds" not in df.columns:
        return None
    rows = []
    for dataset in datasets:
        for variant in order:
            sub = df[(df["dataset"] == dataset) & (df["variant"] == variant)]
            if not sub.empty:
                rows.append({"dataset": dataset, "label": labels[variant], **_share(_run_costs(sub))})
    if not rows:
        return None
    shared = _shared_costs(results, datasets)
    return {"rows": rows, "shared": shared,
            "total": _share(_run_costs(df), float(sum(r["total"] for r in shared)))}


def _sample_images(df: pd.DataFrame, config: Config, results: Path, out: Path, order: list[str],
                   datasets: list[str]) -> list[dict]:
    """Best and worst seed's sample grid per (dataset, variant), by FID for images and modes for mixtures."""
    items = []
    for dataset in datasets:
        for variant in order:
            runs = df[(df["dataset"] == dataset) & (df["variant"] == variant)]
            if runs.empty:
                continue
            best_first = ranked(runs)
            picks = [("best", best_first.iloc[0])] + ([("worst", best_first.iloc[-1])] if len(best_first) > 1 else [])
            shown = []
            for tag, row in picks:
                src = _run_dir(results, dataset, variant, row["seed"]) / "samples.png"
                dst = out / "img" / "samples" / f"{dataset}__{variant}__seed{int(row['seed'])}.png"
                if _copy(src, dst):
                    shown.append({"tag": tag, "seed": int(row["seed"]), "src": _rel(dst, out)})
            items.append({"dataset": dataset, "variant": variant, "label": config.label(variant), "images": shown})
    return items


def _network_pictures(df: pd.DataFrame, config: Config, results: Path, out: Path, order: list[str],
                      datasets: list[str]) -> list[dict[str, Any]]:
    """Per image dataset and variant, from its best finished seed: latent interpolation strips, the first-layer
    filters of D, and the nearest training images of generated samples (all on the CPU)."""
    from ganbench.data import Prepared, load_prepared

    items: list[dict[str, Any]] = []
    for dataset in datasets:
        sub = df[df["dataset"] == dataset]
        if sub["kind"].iloc[0] != "image":
            continue
        try:
            data: Prepared | str = load_prepared(results / "data" / f"{dataset}.npz")
        except PICTURE_ERRORS as exc:
            data = str(exc)
        context = _lecture_context(config, results, dataset)
        for variant in order:
            runs = sub[sub["variant"] == variant]
            if runs.empty:
                continue
            item: dict[str, Any] = {"dataset": dataset, "label": config.label(variant), "seed": None,
                                    "pictures": [], "notes": []}
            items.append(item)
            ok = runs[runs["status"] == "ok"]
            if ok.empty:
                item["notes"].append("no finished run: nothing to show")
                continue
            item["seed"] = int(ranked(ok).iloc[0]["seed"])
            item["pictures"], item["notes"] = _run_pictures(_run_dir(results, dataset, variant, item["seed"]),
                                                            data, out, out / "img" / "networks", context)
    return items


def _lecture_context(config: Config, results: Path, dataset: str) -> dict[str, Any]:
    """What the lecture's extra pictures of a run need besides the run: the dataset's domain classifier (latent
    arithmetic; loaded at most once per dataset, into ``loaded``) and its class names."""
    return {"classifier": results / "classifier" / dataset / "model.pt",
            "class_names": tuple(config.dataset_builder(dataset).class_names), "loaded": {}}


def _lecture_makers(run_dir: Path, train: dict[str, Any], prepared: Any, generator: Callable[[], list[Any]],
                    folder: Path, stem: str, context: dict[str, Any] | None) -> list[tuple[str, Callable[[], Any]]]:
    """The lecture's pictures beyond the three every run gets: latent-vector arithmetic for labelled data, and
    for an autoencoder or VAE its reconstructions, encoder filters and latent space (ganbench.report.autoencoders)."""
    from ganbench.metrics.reconstruction import is_reconstruction_model, load_codec
    from ganbench.report import autoencoders, networks

    context = context or {}
    settings = train.get("settings") or {}
    makers: list[tuple[str, Callable[[], Any]]] = []
    if prepared is None or not prepared.num_classes or "classifier" not in context:
        return makers

    def arithmetic() -> Any:
        from ganbench.metrics.classifier import load_classifier

        loaded = context.setdefault("loaded", {})
        if "classifier" not in loaded:
            loaded["classifier"] = load_classifier(context["classifier"])
        return networks.latent_arithmetic(*generator(), loaded["classifier"], prepared.num_classes,
                                          folder / f"arith_{stem}.png", context.get("class_names", ()))

    makers.append(("Latent-vector arithmetic", arithmetic))
    if settings and is_reconstruction_model(settings):
        codec: list[Any] = []

        def model() -> Any:
            if not codec:
                codec.append(load_codec(run_dir, prepared.shape, settings, prepared.num_classes))
            return codec[0]

        makers += [
            ("Input vs reconstruction", lambda: autoencoders.reconstructions(model(), prepared,
                                                                             folder / f"recon_{stem}.png")),
            ("First-layer filters of the encoder", lambda: autoencoders.encoder_filters(
                model(), prepared.shape, folder / f"efilters_{stem}.png")),
            ("Latent space (PCA)", lambda: autoencoders.latent_map(model(), prepared, folder / f"latent_{stem}.png",
                                                                   context.get("class_names", ()))),
        ]
    return makers


def _run_pictures(run_dir: Path, data: Any, out: Path, folder: Path,
                  context: dict[str, Any] | None = None) -> tuple[list[dict[str, str]], list[str]]:
    """The network pictures of one run (``_lecture_makers`` adds to the three), and a one-line reason for each that
    cannot be made.

    ``data`` is the dataset's Prepared record, or the reason it could not be loaded (then the generator's shape
    comes from train.json and the neighbours are left out)."""
    import torch

    from ganbench.data import Prepared
    from ganbench.metrics.evaluate import load_generator
    from ganbench.report import networks

    stem = "__".join(run_dir.parts[-3:])
    train = _read_json(run_dir / "train.json") or {}
    prepared = data if isinstance(data, Prepared) else None
    loaded: list[Any] = []

    def generator() -> list[Any]:
        """[net, z_dim], loaded once for both pictures that sample from it."""
        if not loaded:
            shell = prepared or Prepared(*(np.empty(0),) * 4, meta=train.get("data") or {})
            loaded.extend(load_generator(run_dir, shell, torch.device("cpu")))
        return loaded

    def filters() -> Any:
        ckpt = networks.latest_checkpoint(run_dir)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint under {run_dir / 'ckpt'}")
        shape = tuple(prepared.shape) if prepared else tuple(train["data"]["shape"])
        return networks.discriminator_filters(ckpt, shape, folder / f"dfilters_{stem}.png")

    def neighbours() -> Any:
        if prepared is None:
            raise FileNotFoundError(data)
        return networks.nearest_neighbours(*generator(), prepared, folder / f"nn_{stem}.png")

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("Latent interpolation", lambda: networks.interpolation_strips(*generator(), folder / f"interp_{stem}.png")),
        ("First-layer filters of D", filters),
        ("Nearest training neighbours", neighbours),
        *_lecture_makers(run_dir, train, prepared, generator, folder, stem, context),
    ]
    pictures: list[dict[str, str]] = []
    notes: list[str] = []
    for title, make in makers:
        try:
            picture = make()
        except PICTURE_ERRORS as exc:
            log.warning("report: %s for %s: %s", title, run_dir, exc)
            notes.append(f"{title}: not available ({type(exc).__name__}: {exc})")
            continue
        if picture is None:
            notes.append(f"{title}: not available for this architecture")
        else:
            pictures.append({"title": title, "src": _rel(picture.path, out), "note": picture.note})
    return pictures, notes


# ---------------------------------------------------------------------------------------------- runs
def _runs(df: pd.DataFrame, results: Path, out: Path, labels: dict[str, str], order: list[str]) -> list[dict]:
    """Every run in config order, with its wall time (the training job's process, start-up included, + its own
    evaluation) and a link to its folder."""
    rank = {v: i for i, v in enumerate(order)}
    frame = df.assign(_rank=df["variant"].map(rank).fillna(len(order))).sort_values(["dataset", "_rank", "seed"])
    runs = []
    for row in frame.drop(columns="_rank").to_dict("records"):
        job = _seconds(row.get("train_job_wall_seconds"))
        if not math.isfinite(job):
            job = _seconds(row.get("total_train_job_seconds"))
        if not math.isfinite(job):
            job = float(np.nansum([_seconds(row.get("setup_seconds")), _seconds(row.get("train_seconds"))]))
        evaluate = _seconds(row.get("eval_seconds"))
        message = row.get("message")
        runs.append({**row, "label": labels.get(row["variant"], row["variant"]),
                     "wall_seconds": job + (evaluate if math.isfinite(evaluate) else 0.0),
                     "message": message if isinstance(message, str) else "",
                     "link": _rel(_run_dir(results, row["dataset"], row["variant"], row["seed"]), out)})
    return runs


def _incomplete(df: pd.DataFrame, config: Config, results: Path) -> dict[str, Any] | None:
    """What the banner at the top says when the results are incomplete: runs that failed (training or evaluation
    raised) and runs of the config with no metrics at all; None when every run finished (diverged runs are
    results, not gaps)."""
    expected = {(r.dataset, r.variant, r.seed) for r in config.runs()}
    present = set(zip(df["dataset"], df["variant"], df["seed"].astype(int)))
    missing = sorted(expected - present)
    failed = df[df["status"] == "failed"]
    lines = []
    if len(failed):
        lines.append(f"{len(failed)} of {len(expected)} runs failed.")
    if missing:
        shown = ", ".join(f"{d}/{v}/seed{s}" for d, v, s in missing[:5]) + (" …" if len(missing) > 5 else "")
        lines.append(f"{len(missing)} of {len(expected)} runs have no results ({shown}).")
    if not lines:
        return None
    retry = " ".join(str(_run_dir(results, d, v, s) / "train.json")
                     for d, v, s in zip(failed["dataset"], failed["variant"], failed["seed"]))
    return {"lines": lines, "retry": f"snakemake --cores all --forcerun {retry}" if retry else ""}


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
    floors = {d: (_read_json(results / "features" / d / "floor.json") or {}).get("metrics", {}) for d in datasets}
    classifiers = {d: _read_json(results / "classifier" / d / "info.json") for d in datasets}

    tables = [_table_view(t, df, len(config.seeds)) for t in (
        build_table(df, name, variants, datasets, config.baseline(), config.report["bootstrap"], floors,
                    config.evaluation)
        for name in _metric_order()) if t is not None]
    for view in tables:
        view["published"] = published_view(view["t"], config, reference)
        view["quality"] = _mixture_quality_notes(view["t"], df, labels)

    env = Environment(loader=PackageLoader("ganbench.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["num"] = _number
    html = env.get_template("index.html.j2").render(
        title=config.title,
        incomplete=_incomplete(df, config, results),
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        tables=tables,
        variants=variants,
        baseline=config.label(config.baseline()),
        alpha=config.report["alpha"],
        significance=_significance(len(config.seeds), config.report["alpha"]),
        bootstrap=config.report["bootstrap"],
        figures=figures(df, config, results, out, datasets, order, lambda path: _rel(path, out)),
        search=search_section(config, results, labels),
        datasets=datasets,
        samples=_sample_images(df, config, results, out, order, datasets),
        networks=_network_pictures(df, config, results, out, order, datasets),
        timing=_time_breakdown(df, order, labels, datasets, results),
        runs=_runs(df, results, out, labels, order),
        classifiers=classifiers,
        evaluation=config.evaluation,
        config_yaml=yaml.safe_dump(config.raw, sort_keys=False, allow_unicode=True),
        versions=_versions(),
        commit=_git_commit(),
        machine=f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · {platform.platform()}",
    )
    write_text(out / "index.html", html)
    return out / "index.html"
