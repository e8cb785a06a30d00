"""Evaluation of trained runs: every metric declared in ``ganbench.metrics.registry`` that applies to a run.

``evaluate_runs``: the runs of one job (a dataset and variant, every seed) in one process, which loads the dataset,
the feature networks and the real side once (``ganbench.metrics.context.Shared``). For each run it samples the
generator in batches straight into the feature networks (no PNG round trip, one pass for all of them) and runs
every metric family that applies to the run (its dataset kind, what it needs, its condition on the settings); the
families and what they compute are listed in the report's tables and in the metric modules (``registry.MODULES``).
A run that did not finish gets NaN for every score of those families.

Every result records the evaluation settings it was computed with (``num_samples``, ``eval_seed``, ``real_split``
and the whole ``evaluation`` section) and its cost: the run's own evaluation time and its evaluate job's.

The real side and the floor are built by ``ganbench.metrics.real``; the model rebuilding and sampling live in
``ganbench.metrics.context`` (both re-exported here for their callers).
"""

from __future__ import annotations

import pickle
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.data import load_prepared
from ganbench.device import describe, pick_device
from ganbench.errors import GanbenchError
from ganbench.io import read_json, write_json
from ganbench.metrics import registry
from ganbench.metrics.context import (  # noqa: F401
    RunContext,
    Shared,
    generate,
    is_stacked,
    load_generator,
    mixture_options,
    sample_total,
    snapshots,
)
from ganbench.metrics.real import REAL_ROLES, real_features  # noqa: F401  (re-exported)
from ganbench.progress import log as progress_log
from ganbench.timing import job_costs

# What one run's evaluation may raise without stopping the job (the run is recorded as failed): unreadable or
# mismatched weights, a missing input file, numbers a metric cannot take (a singular covariance ...).
RUN_ERRORS = (GanbenchError, OSError, RuntimeError, ValueError, pickle.UnpicklingError)


def applicable(ctx: RunContext) -> list[registry.Metric]:
    """The metric families that apply to this run, in registry order."""
    metrics = registry.load()
    return [m for m in (metrics.get(name) for name in metrics) if m.applies(ctx)]


@dataclass(frozen=True)
class RunToEvaluate:
    """One run of an evaluate job: its folder, where its metrics.json goes, and the ids recorded with them."""

    run_dir: Path
    out_path: Path
    run_id: dict[str, Any]


def evaluate_runs(runs: list[RunToEvaluate], data_path: str | Path, options: dict[str, Any],
                  real_features_path: str | Path | None = None, classifier_path: str | Path | None = None
                  ) -> list[dict[str, Any]]:
    """Every applicable evaluator's metrics for each run (NaN where a run did not finish), with the run's timings
    and the evaluation settings, written to each run's ``out_path`` (metrics.json) when the job ends.

    One process evaluates all ``runs`` (one Snakemake job per dataset and variant: its seeds), so interpreter
    start-up, imports, the dataset, the feature networks and the real side are paid once. Each metrics.json
    records this run's own ``eval_seconds``/``eval_cpu_seconds`` and the whole job's cost with the number of runs
    it covered (``eval_job_*``)."""
    device = pick_device("auto")
    shared = Shared(load_prepared(data_path), options, device, real_features_path, classifier_path)
    if shared.data.kind == "image" and real_features_path is not None:
        _ = shared.pipeline, shared.real  # loaded once, outside the runs' own timings
    pending = [(run, read_json(Path(run.run_dir) / "train.json")) for run in runs]
    timed = []
    for i, (run, train) in enumerate(pending, 1):
        t0, c0 = time.perf_counter(), time.process_time()
        result = _evaluate_one(RunContext(Path(run.run_dir), shared, train), run.run_id)
        result["eval_seconds"] = time.perf_counter() - t0
        result["eval_cpu_seconds"] = time.process_time() - c0
        timed.append((run, result))
        progress_log.info("evaluated run %d/%d: %s (%s) in %.1f s", i, len(pending), run.run_dir, result["status"],
                          result["eval_seconds"])
    shared_cost = _job_cost([result for _, result in timed])
    results = []
    for run, result in timed:
        result.update(shared_cost)
        write_json(run.out_path, result)
        results.append(result)
    return results


def evaluate_run(run_dir: str | Path, data_path: str | Path, options: dict[str, Any], out_path: str | Path,
                 real_features_path: str | Path | None = None, classifier_path: str | Path | None = None,
                 run_id: dict[str, Any] | None = None) -> dict[str, Any]:
    """``evaluate_runs`` for one run."""
    return evaluate_runs([RunToEvaluate(Path(run_dir), Path(out_path), run_id or {})], data_path, options,
                         real_features_path, classifier_path)[0]


def _evaluate_one(ctx: RunContext, run_id: dict[str, Any]) -> dict[str, Any]:
    train = ctx.train
    options = ctx.options
    result: dict[str, Any] = {
        **run_id,
        "identity": train.get("identity"),  # the weights these numbers belong to (ganbench.runs)
        "status": train["status"],
        "message": train.get("message", ""),
        "steps": train["steps"],
        "train_seconds": train["train_seconds"],
        "train_cpu_seconds": train.get("train_cpu_seconds"),
        "setup_seconds": train.get("setup_seconds"),
        "total_train_job_seconds": train.get("total_seconds"),
        "train_job_cpu_seconds": train.get("job_cpu_seconds"),
        "train_job_wall_seconds": train.get("job_wall_seconds"),
        "images_per_second": train["images_per_second"],
        "device": train["device"],
        "num_samples": int(options["num_samples"]),
        "eval_seed": int(options["seed"]),
        "real_split": options["real_split"],
        "kind": ctx.data.kind,
        "evaluation": options,
    }
    families = applicable(ctx)
    blank = {name: value for family in families for name, value in family.blank.items()}
    result.update(blank)
    if train["status"] == "ok":
        try:
            for family in families:
                result.update(family.check(family.compute(ctx)))
        except registry.DeclarationError:
            raise  # a metric module's bug, not this run's
        except RUN_ERRORS as exc:  # one run's broken evaluation is recorded, the job goes on
            traceback.print_exc()
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result.update({**blank, "status": "failed", "message": f"evaluation failed: {last}"})
    result["eval_device"] = describe(ctx.device)
    return result


def _job_cost(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluate job's cost, known only when its runs are done, written with every run's metrics: its CPU and
    wall seconds, its run count, and the part no run's own time covers (start-up, imports, loading the dataset, the
    feature networks and the real side)."""
    job = job_costs()
    own_cpu = sum(r["eval_cpu_seconds"] for r in results)
    return {"eval_job_cpu_seconds": job["job_cpu_seconds"], "eval_job_wall_seconds": job["job_wall_seconds"],
            "eval_job_runs": len(results),
            "eval_job_setup_cpu_seconds": max(0.0, job["job_cpu_seconds"] - own_cpu)}
