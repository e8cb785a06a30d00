#!/usr/bin/env python
"""bf16 autocast's quality check: FID of short training runs with ``runtime.amp`` against the same runs in float32.

``train_throughput.py --bf16`` times ganbench's training step under bf16 autocast as its own row; this script checks
what it does to the result. For --variant (default ``dcgan``, where bf16 is faster on a CPU with AMX) of
config/config.yaml, it trains --seeds (default 0 1) twice with the pipeline's own commands (``python -m ganbench
train``, one thread, as the Snakemake rules run them): as the config has it (float32), and with ``runtime.amp: true``
(the training step under bf16 autocast; weights, optimizer state and the evaluation stay float32). --steps overrides
the variant's steps (default: the config's, 1500 for DCGAN). One ``ganbench evaluate`` job per precision then
computes the metrics on --num-samples generated samples (the default config's 5000) with the domain classifier and
the cached real statistics, made once in the work dir as eval_cost.py makes them.

Verdict: the bf16 runs' FID against the float32 runs' of the same seed, on the scale of the float32 runs' own
seed-to-seed spread (two float32 runs that differ only in the seed differ by that much): bf16 passes when its mean
FID is within that spread of the float32 mean. The training steps' speed in the pipeline (train.json's
train_seconds) is printed too.

Run:  .venv/bin/python benchmarks/bf16_quality.py [--variant dcgan] [--seeds 0 1] [--steps N] [--num-samples 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_cost import REPO, evaluation_inputs, run, source_hash  # noqa: E402

METRICS = ("fid", "kid", "precision", "recall", "is")


def write_config(base: dict, variant: str, steps: int | None, num_samples: int, amp: bool, path: Path) -> Path:
    cfg = json.loads(json.dumps(base))
    chosen = [v for v in cfg["variants"] if v["name"] == variant]
    if not chosen:
        sys.exit(f"--variant: {variant!r} is not a variant of config/config.yaml "
                 f"({', '.join(v['name'] for v in cfg['variants'])})")
    if steps:
        chosen[0]["steps"] = steps
    cfg["variants"] = chosen
    if "baseline" in cfg.get("report", {}):
        cfg["report"]["baseline"] = variant  # (it must name a variant of the config)
    cfg.setdefault("evaluation", {})["num_samples"] = num_samples
    cfg.setdefault("runtime", {})["amp"] = amp
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", default="/tmp/ganbench-bf16-quality")
    p.add_argument("--npz", default="/tmp/fmnist.npz", help="prepared Fashion-MNIST (made if missing)")
    p.add_argument("--variant", default="dcgan", help="a variant of config/config.yaml")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the variant's)")
    p.add_argument("--num-samples", type=int, default=5000)
    args = p.parse_args()
    if len(args.seeds) < 2:
        p.error("--seeds: at least 2 (the float32 seed-to-seed spread is the scale of the comparison)")

    gb = [sys.executable, "-m", "ganbench"]
    work = Path(args.work_dir) / source_hash()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    npz = Path(args.npz)
    if not npz.exists():
        run([*gb, "prepare", "--config", str(REPO / "config" / "config.yaml"), "--dataset", "fashion_mnist", "--out",
             str(npz), "--cache-dir", str(work / "downloads")], logs / "prepare.log")
    configs = {precision: write_config(base, args.variant, args.steps, args.num_samples, precision == "bf16",
                                       work / f"config-{precision}-{args.variant}-s{args.steps}.yaml")
               for precision in ("float32", "bf16")}
    clf, real = evaluation_inputs(work, configs["float32"], npz, args.num_samples)
    print(f"work dir {work}; variant {args.variant}, seeds {args.seeds}, steps {args.steps or 'as configured'}, "
          f"{args.num_samples} samples; 1 thread per job; load average {os.getloadavg()[0]:.1f}", flush=True)

    results: dict[str, dict[int, dict]] = {}
    for precision, cfg_path in configs.items():
        runs = {s: work / "runs" / f"{args.variant}-s{args.steps}" / precision / f"seed{s}" for s in args.seeds}
        for seed, run_dir in runs.items():
            if not (run_dir / "train.json").exists():
                w, c = run([*gb, "train", "--config", str(cfg_path), "--dataset", "fashion_mnist", "--variant",
                            args.variant, "--seed", str(seed), "--data", str(npz), "--out-dir", str(run_dir),
                            "--threads", "1"], logs / f"train-{precision}-{seed}.log")
                print(f"  train {precision} seed {seed}: {w:.1f} s wall, {c:.1f} s CPU", flush=True)
        outs = [run_dir / f"metrics-n{args.num_samples}.json" for run_dir in runs.values()]
        if not all(o.exists() for o in outs):
            run([*gb, "evaluate", "--config", str(cfg_path), "--run-dir", *map(str, runs.values()), "--data",
                 str(npz), "--real-features", str(real), "--classifier", str(clf), "--out", *map(str, outs),
                 "--dataset", "fashion_mnist", "--variant", args.variant, "--seed", *map(str, args.seeds),
                 "--threads", "1"], logs / f"evaluate-{precision}.log")
        results[precision] = {}
        for seed, run_dir, out in zip(runs, runs.values(), outs):
            train = json.loads((run_dir / "train.json").read_text())
            results[precision][seed] = {**json.loads(out.read_text()), "train_seconds": train["train_seconds"],
                                        "train_cpu_seconds": train.get("train_cpu_seconds"),
                                        "images_per_second": train["images_per_second"]}

    print(f"\n{'precision':9s} {'seed':>4s} | " + " ".join(f"{m:>9s}" for m in METRICS)
          + f" | {'train CPU s':>11s} {'images/s':>9s}")
    for precision, per_seed in results.items():
        for seed, r in per_seed.items():
            print(f"{precision:9s} {seed:4d} | " + " ".join(f"{r.get(m, float('nan')):9.4g}" for m in METRICS)
                  + f" | {r['train_cpu_seconds'] or float('nan'):11.1f} {r['images_per_second']:9.0f}")
    fid = {k: [r["fid"] for r in v.values()] for k, v in results.items()}
    spread = max(fid["float32"]) - min(fid["float32"])
    diff = statistics.mean(fid["bf16"]) - statistics.mean(fid["float32"])
    same_seed = [b - f for b, f in zip(fid["bf16"], fid["float32"])]
    cpu = {k: statistics.mean(r["train_cpu_seconds"] or r["train_seconds"] for r in v.values())
           for k, v in results.items()}
    speed = cpu["float32"] / cpu["bf16"]
    per_seed = ", ".join(f"{d:+.3f}" for d in same_seed)
    print(f"\nFID: float32 mean {statistics.mean(fid['float32']):.3f} (seed-to-seed spread {spread:.3f}), bf16 mean "
          f"{statistics.mean(fid['bf16']):.3f}: difference {diff:+.3f} (per seed {per_seed}) -> "
          f"{'PASS' if abs(diff) <= spread else 'FAIL'}: bf16 {'within' if abs(diff) <= spread else 'outside'} "
          "the float32 seed-to-seed spread")
    print(f"training steps' CPU time, float32 / bf16: {speed:.2f}x (train.json, the pipeline's own runs)")
    (work / f"bf16-quality-{args.variant}-s{args.steps}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
