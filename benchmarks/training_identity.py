#!/usr/bin/env python
"""Does a change leave training numerically identical? Train the same short runs with two ganbench checkouts and
compare their outputs bitwise.

Every variant of ``config/config.yaml`` (on each dataset it runs on) and a list of trick, conditional and baseline
variants (``EXTRA``) are trained for ``--steps`` generator steps with ``ganbench.train.run.train_run`` on small data
(ring-8 with 4000 points, 2000 Fashion-MNIST images), once with each checkout, each in its own process with that
checkout first on ``PYTHONPATH``. Both read the same prepared ``.npz`` files. Then, per run:

- ``generator.pt`` (and ``generator_raw.pt`` where EMA writes it): the same keys and ``torch.equal`` tensors;
- ``log.csv``: the same columns and the same text in every cell except ``seconds`` (wall time);
- ``samples.png``: the same bytes;
- ``train.json``: the same status, steps and message.

Use it to check a refactor against its base commit:

    git worktree add /tmp/base <base commit>
    python benchmarks/training_identity.py --base /tmp/base [--steps 60] [--only wgan-gp ema]

It exits 1 if any run differs. A checkout's code is imported from its folder, so the base needs no install.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent
FMNIST_MIRROR = "file:///usr/share/datasets/fashion-mnist/"

# name → (dataset, delta over config/config.yaml's defaults)
MLP = {"architecture": {"name": "mlp", "hidden": 64, "layers": 2}}
DCGAN = {"architecture": {"name": "dcgan", "width": 16}}
EXTRA: dict[str, tuple[str, dict[str, Any]]] = {
    "ema": ("ring8", {**MLP, "tricks": {"ema": {"decay": 0.9}}}),
    "spectral_norm": ("ring8", {**MLP, "tricks": {"spectral_norm": {"generator": True}}}),
    "unrolled": ("ring8", {**MLP, "tricks": {"unrolled": {"steps": 3}}}),
    "unrolled_first_order": ("ring8", {**MLP, "tricks": {"unrolled": {"steps": 3, "second_order": False}}}),
    "experience_replay": ("ring8", {**MLP, "tricks": {"experience_replay": {"size": 256}}}),
    "pacgan": ("ring8", {**MLP, "tricks": {"pacgan": {"packing": 2}}}),
    "multi_d": ("ring8", {**MLP, "tricks": {"multi_d": {"count": 3}}}),
    "label_smoothing": ("ring8", {**MLP, "tricks": {"label_smoothing": {}}}),
    "instance_noise": ("ring8", {**MLP, "tricks": {"instance_noise": {"anneal_steps": 40}}}),
    "gradient_penalty": ("ring8", {**MLP, "loss": "hinge", "tricks": {"gradient_penalty": {"center": 0.0}}}),
    "lr_schedule": ("ring8", {**MLP, "tricks": {"lr_schedule": {"schedule": "cosine"}}}),
    "grad_clip": ("ring8", {**MLP, "tricks": {"grad_clip": {"max_norm_d": 0.5, "max_norm_g": 0.5}}}),
    "weight_clip": ("ring8", {**MLP, "loss": "wgan", "d_steps": 5, "optimizer": {"name": "rmsprop"},
                              "tricks": {"weight_clip": {}}}),
    "minibatch": ("ring8", {**MLP, "tricks": {"minibatch_discrimination": {"kernels": 8},
                                              "minibatch_stddev": {}, "d_dropout": {}}}),
    "combo": ("ring8", {**MLP, "loss": "hinge", "d_steps": 2, "tricks": {
        "spectral_norm": {}, "gradient_penalty": {}, "ema": {}, "experience_replay": {"size": 64},
        "lr_schedule": {}, "instance_noise": {}, "multi_d": {}, "pacgan": {}}}),
    "wgan-gp-conditional": ("ring8", {**MLP, "loss": "wgan-gp", "d_steps": 5, "conditional": "concat"}),
    "concat": ("fashion_mnist", {**DCGAN, "conditional": "concat"}),
    "projection": ("fashion_mnist", {**DCGAN, "conditional": "projection", "loss": "hinge"}),
    "dcgan-ema-unrolled": ("fashion_mnist", {**DCGAN, "tricks": {"ema": {}, "unrolled": {"steps": 1}}}),
    "dcgan-pacgan-multi_d": ("fashion_mnist", {**DCGAN, "tricks": {"pacgan": {}, "multi_d": {}}}),
    "vae": ("fashion_mnist", {"architecture": {"name": "vae", "width": 16}}),
    "autoencoder": ("fashion_mnist", {"architecture": {"name": "autoencoder", "filters": [8, 4]}}),
}

WORKER = """
import json, sys
import ganbench, torch
from ganbench.train.run import train_run
jobs = json.load(open(sys.argv[1]))
print(ganbench.__file__, file=sys.stderr)
for job in jobs:
    train_run(job["settings"], job["data"], job["out"], job["seed"], threads=1, progress=False)
"""


def jobs(steps: int, only: list[str] | None, data: dict[str, Path]) -> list[dict[str, Any]]:
    sys.path.insert(0, str(HERE))
    from ganbench.config import Config, merge

    raw = yaml.safe_load((HERE / "config/config.yaml").read_text())
    config = Config(raw)
    short = {"steps": steps, "log_every": 10, "checkpoint_every": 30, "snapshots": 2}
    out = []
    for variant in config.variant_names:
        for dataset in config.variant_datasets(variant):
            out.append({"name": f"{dataset}-{variant}", "dataset": dataset,
                        "settings": merge(config.settings(variant), short)})
    for name, (dataset, delta) in EXTRA.items():
        out.append({"name": f"{dataset}-{name}", "dataset": dataset,
                    "settings": merge(merge(config.defaults, delta), short)})
    if only:
        out = [j for j in out if any(o in j["name"] for o in only)]
    for job in out:
        job["data"], job["seed"] = str(data[job["dataset"]]), 0
    return out


def prepare(work: Path) -> dict[str, Path]:
    sys.path.insert(0, str(HERE))
    from ganbench.data import make_builder, prepare_dataset

    paths = {"ring8": work / "ring8.npz", "fashion_mnist": work / "fashion_mnist.npz"}
    if not paths["ring8"].exists():
        prepare_dataset(make_builder("ring8", {"n_train": 4000, "n_test": 1000}), paths["ring8"], work / "cache")
    if not paths["fashion_mnist"].exists():
        builder = make_builder("fashion_mnist", {"mirrors": [FMNIST_MIRROR], "train_limit": 2000, "test_limit": 500})
        prepare_dataset(builder, paths["fashion_mnist"], work / "cache")
    return paths


def train_all(checkout: Path, todo: list[dict[str, Any]], root: Path) -> None:
    listed = [{**job, "out": str(root / job["name"])} for job in todo]
    spec = root / "jobs.json"
    root.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps(listed))
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-c", WORKER, str(spec)], check=True, env=env, cwd=root)


def differences(a: Path, b: Path) -> list[str]:
    import torch

    found = []
    for name in ("generator.pt", "generator_raw.pt"):
        if (a / name).exists() != (b / name).exists():
            found.append(f"{name} exists in one run only")
        elif (a / name).exists():
            wa, wb = (torch.load(p / name, weights_only=True) for p in (a, b))
            if wa.keys() != wb.keys():
                found.append(f"{name}: other keys")
            found += [f"{name}: {k} differs" for k in wa if k in wb and not torch.equal(wa[k], wb[k])]
    rows = []
    for run in (a, b):
        with open(run / "log.csv") as handle:
            rows.append([{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(handle)])
    if rows[0] != rows[1]:
        found.append("log.csv differs")
    if (a / "samples.png").read_bytes() != (b / "samples.png").read_bytes():
        found.append("samples.png differs")
    ta, tb = (json.loads((run / "train.json").read_text()) for run in (a, b))
    found += [f"train.json {k}: {ta[k]!r} vs {tb[k]!r}" for k in ("status", "steps", "message") if ta[k] != tb[k]]
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. a git worktree of the base)")
    p.add_argument("--head", type=Path, default=HERE, help="this checkout (default: the one this script is in)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--only", nargs="+", help="runs whose name contains one of these")
    p.add_argument("--work", type=Path, default=None, help="folder for data and runs (default: a temp folder)")
    p.add_argument("--keep-base", action="store_true", help="reuse the base's finished runs in --work")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ganbench-identity-"))
    data = prepare(work)
    todo = jobs(args.steps, args.only, data)
    for side, checkout in (("base", args.base), ("head", args.head)):
        side_todo = [j for j in todo if side == "head" or not args.keep_base
                     or not (work / side / j["name"] / "train.json").exists()]
        if side == "head":
            import shutil

            shutil.rmtree(work / side, ignore_errors=True)
        if side_todo:
            train_all(checkout.resolve(), side_todo, work / side)
    failed = 0
    for job in todo:
        diff = differences(work / "base" / job["name"], work / "head" / job["name"])
        status = json.loads((work / "head" / job["name"] / "train.json").read_text())["status"]
        print(f"{job['name']:40s} {'identical' if not diff else 'DIFFERENT: ' + '; '.join(diff[:4])} ({status})")
        failed += bool(diff)
    print(f"\n{len(todo) - failed}/{len(todo)} runs identical ({args.steps} steps each; {work})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
