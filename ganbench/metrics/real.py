"""The per-dataset real side the runs are compared with, and the real-vs-real floor (the report's "data" row).

``real_features`` (once per dataset) stores in real.pt the features of ``num_samples`` real images of the
evaluation split (by role: ``REAL_ROLES``) and whatever each applicable metric's ``real`` hook adds (the FID
statistics, the real k-NN radii of precision/recall and density/coverage, the real kernel sums of the KID subsets,
the memorization reference ...). With ``floor_path`` the same call measures the floor of every metric that
declares one: the other split plays the generator against the evaluation split (a second held-out subset for the
memorization ratio), through each metric's ``floor`` hook.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ganbench.data import load_prepared
from ganbench.device import pick_device
from ganbench.io import torch_save, write_json
from ganbench.metrics import registry
from ganbench.metrics.context import FloorContext, RealContext, batches, is_stacked, subset
from ganbench.metrics.extractors import FID, ISC, PRC, FeaturePipeline
from ganbench.timing import job_costs

REAL_ROLES = (FID, ISC, PRC)  # the features kept for the comparison with every run


def _applicable(ctx: RealContext) -> list[registry.Metric]:
    """The metric families that apply to this dataset (``when`` is about runs: it does not apply here)."""
    return [m for m in registry.ordered()
            if ctx.data.kind in m.kinds and all(ctx.available(n) for n in m.needs if registry.NEEDS[n][1])]


def real_features(data_path: str | Path, classifier_path: str | Path | None, options: dict[str, Any],
                  out_path: str | Path, floor_path: str | Path | None = None) -> dict[str, Any]:
    device = pick_device("auto")
    data = load_prepared(data_path)
    pipe = FeaturePipeline.build(options, classifier_path, device)
    n, seed, bs = int(options["num_samples"]), int(options["seed"]), int(options["batch_size"])
    split = options["real_split"]
    start = time.perf_counter()
    real = pipe(batches(subset(data.split(split)[0], n, seed), bs), roles=REAL_ROLES)
    ctx = RealContext(data, pipe, options, real)
    blob: dict[str, Any] = {**real, "split": split, "extractor": pipe.main_name, "num_samples": len(real[FID])}
    families = _applicable(ctx)
    for family in families:
        if family.real is not None:
            blob.update(family.real(ctx))
    torch_save(blob, out_path)
    info: dict[str, Any] = {"extractor": pipe.main_name, "split": split, "num_samples": len(real[FID]),
                            "seed": seed, "evaluation": options}
    if floor_path is not None:
        info.update(floor(FloorContext(ctx, blob), families))
        info["seconds"] = time.perf_counter() - start
        info.update(job_costs())
        write_json(floor_path, info)
    return info


def floor(ctx: FloorContext, families: list[registry.Metric]) -> dict[str, Any]:
    """Real-vs-real values of every metric that has one, with the split and sample counts they rest on."""
    metrics: dict[str, Any] = {}
    for family in families:
        if family.floor is not None:
            metrics.update(family.check(family.floor(ctx), "floor"))
    stacked = ctx.labels is not None and is_stacked(ctx.data)
    return {"metrics": metrics, "floor_split": ctx.split, "floor_samples": ctx.samples,
            "stacked_samples": len(ctx.labels) if stacked else None}
