#!/usr/bin/env python
"""Does a change leave evaluation numerically identical? Evaluate the same trained runs with two ganbench checkouts
and compare every number bitwise.

The runs come from one pipeline run (``snakemake ... results/metrics.csv``) of ``CONFIG`` below (short runs of the
metric families' cases: an unconditional, a Wasserstein, a conditional and a VAE variant on Fashion-MNIST, Stacked
Fashion-MNIST and ring-8), made once in ``--work`` with the ``--base`` checkout when its results are missing. Then,
with each checkout (its code first on ``PYTHONPATH``), in its own folder:

- ``ganbench real-features`` per image dataset (real.pt and floor.json, from the pipeline's classifier);
- ``ganbench evaluate`` per (dataset, variant), on the pipeline's run folders.

Compared: every tensor of real.pt (``torch.equal``), and every value of floor.json and of each metrics.json except
the timings (``*seconds``, job costs) and the evaluation section the run records: the same keys and the same
values (NaN equals NaN). Use it to check a refactor against its base commit:

    mkdir /tmp/base && git archive <base commit> | tar -x -C /tmp/base
    python benchmarks/evaluation_identity.py --base /tmp/base --work /tmp/evid

It exits 1 if anything differs. A checkout's code is imported from its folder, so neither needs an install.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent
MIRROR = ["file:///usr/share/datasets/fashion-mnist/"]
CONFIG: dict[str, Any] = {
    "title": "evaluation identity",
    "seeds": [0],
    "datasets": {"fashion_mnist": {"mirrors": MIRROR, "train_limit": 3000, "test_limit": 1000},
                 "stacked_fashion_mnist": {"mirrors": MIRROR, "n_train": 3000, "n_test": 1000},
                 "ring8": {"n_train": 3000, "n_test": 1000}},
    "defaults": {"architecture": {"name": "mlp", "hidden": 64}, "steps": 60, "checkpoint_every": 20, "log_every": 10,
                 "snapshots": 2},
    "variants": [{"name": "nonsaturating", "label": "A  non-saturating"},
                 {"name": "wgan-gp", "label": "B  WGAN-GP", "loss": "wgan-gp", "d_steps": 2},
                 {"name": "cgan", "label": "C  conditional", "conditional": "projection",
                  "datasets": ["fashion_mnist"]},
                 {"name": "vae", "label": "D  VAE", "architecture": {"name": "vae", "width": 16},
                  "datasets": ["fashion_mnist"]}],
    "evaluation": {"num_samples": 500, "batch_size": 250, "kid_subset_size": 100, "stacked_samples": 1000,
                   "memorization_samples": 300, "classifier": {"epochs": 1, "min_accuracy": 0.3}},
}
# what differs from one evaluation to the next by design: timings and the job's cost, not numbers of the runs
VOLATILE = ("seconds",)


def run(checkout: Path, args: list[str], cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-m", "ganbench", "-q", *args], check=True, env=env, cwd=cwd)


def pipeline(checkout: Path, work: Path) -> None:
    """The trained runs, their classifiers and metrics, made once with ``checkout``'s Snakefile."""
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    snakemake = Path(sys.executable).parent / "snakemake"
    env = {**os.environ, "PYTHONPATH": str(checkout), "PATH": f"{snakemake.parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(snakemake), "-s", str(checkout / "Snakefile"), "--directory", str(work), "--configfile",
                    str(work / "config.yaml"), "--cores", "1", "results/metrics.csv"], check=True, env=env)


def evaluate_all(checkout: Path, work: Path, out: Path) -> list[Path]:
    """real-features and evaluate of every dataset and variant with ``checkout``; the files written."""
    results = work / "results"
    config = work / "config.yaml"
    written = []
    for data in sorted((results / "data").glob("*.npz")):
        dataset = data.stem
        classifier = results / "classifier" / dataset / "model.pt"
        image = classifier.is_file()
        extra = []
        if image:
            folder = out / "features" / dataset
            folder.mkdir(parents=True, exist_ok=True)
            run(checkout, ["real-features", "--config", str(config), "--data", str(data), "--classifier",
                           str(classifier), "--out", str(folder / "real.pt"), "--floor", str(folder / "floor.json")],
                work)
            written += [folder / "real.pt", folder / "floor.json"]
            extra = ["--real-features", str(folder / "real.pt"), "--classifier", str(classifier)]
        for variant in sorted(p.name for p in (results / "runs" / dataset).iterdir()):
            runs = sorted((results / "runs" / dataset / variant).glob("seed*"))
            outs = [out / "metrics" / dataset / variant / f"{r.name}.json" for r in runs]
            outs[0].parent.mkdir(parents=True, exist_ok=True)
            run(checkout, ["evaluate", "--config", str(config), "--run-dir", *map(str, runs), "--data", str(data),
                           *extra, "--out", *map(str, outs), "--dataset", dataset, "--variant", variant,
                           "--seed", *(r.name[4:] for r in runs)], work)
            written += outs
    return written


def same(a: Any, b: Any, where: str, found: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        keys_a = {k for k in a if not any(v in k for v in VOLATILE)}
        keys_b = {k for k in b if not any(v in k for v in VOLATILE)}
        found += [f"{where}.{k}: in one side only" for k in sorted(keys_a ^ keys_b)]
        for k in sorted(keys_a & keys_b):
            same(a[k], b[k], f"{where}.{k}", found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]", found)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif type(a) is not type(b) or a != b:
        found.append(f"{where}: {a!r} vs {b!r}")


def same_tensors(a: Any, b: Any, where: str, found: list[str]) -> None:
    import torch

    if isinstance(a, dict) and isinstance(b, dict):
        found += [f"{where}.{k}: in one side only" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b), key=str):
            same_tensors(a[k], b[k], f"{where}.{k}", found)
    elif isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            found.append(f"{where}: tensors differ")
    else:
        same(a, b, where, found)


def compare(a: Path, b: Path) -> list[str]:
    if a.suffix == ".pt":
        import torch

        found: list[str] = []
        same_tensors(*(torch.load(p, weights_only=True) for p in (a, b)), "real.pt", found)
        return found
    found = []
    same(json.loads(a.read_text()), json.loads(b.read_text()), a.name, found)
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. an archive of the base)")
    p.add_argument("--head", type=Path, default=HERE, help="this checkout (default: the one this script is in)")
    p.add_argument("--work", type=Path, required=True, help="folder for the pipeline's runs and both evaluations")
    args = p.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "results" / "metrics.csv").is_file():
        pipeline(args.base.resolve(), work)
    sides = {side: evaluate_all(checkout.resolve(), work, work / "identity" / side)
             for side, checkout in (("base", args.base), ("head", args.head))}
    failed = 0
    for a, b in zip(sides["base"], sides["head"]):
        diff = compare(a, b)
        print(f"{str(a.relative_to(work / 'identity' / 'base')):55s} "
              f"{'identical' if not diff else 'DIFFERENT: ' + '; '.join(diff[:4])}")
        failed += bool(diff)
    total = len(sides["base"])
    print(f"\n{total - failed}/{total} files identical ({work})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
