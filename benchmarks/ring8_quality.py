#!/usr/bin/env python
"""How well the 2-D study's GANs learn ring-8 at a given budget: high-quality %, modes and seconds per setting.

The default config trains ring-8 with the Fashion-MNIST settings (MLP 2×256, Adam 2e-4, batch 64, 6000 steps).
This script trains ring-8 runs in-process (one thread, as the pipeline's jobs) for the settings named on the
command line, each a delta over config/config.yaml's defaults and one of its variants, and evaluates each run
under the 2-D protocol (PacGAN / VEEGAN: ``evaluation.mixture_samples`` samples, default 2500; a sample is high
quality within 3σ of its nearest mode; a mode is captured with ≥ 1 high-quality sample; ``modes_reached`` needs
``evaluation.mode_min_share`` of a uniform share). It prints one line per (setting, variant, seed) and a summary
per (setting, variant): HQ % and modes (mean over seeds) and CPU seconds of the training steps per run.

Settings (``--settings NAME=YAML``, repeatable; YAML is merged over the defaults like a variant):

    current   {}                                                      the default config as it is
    pacgan    {architecture: {name: mlp, hidden: 400, layers: 4, batchnorm_g: true}, ...}   see --help

Run:  .venv/bin/python benchmarks/ring8_quality.py --seeds 0 1 2 --variants minimax nonsaturating \
          --settings current='{}' --settings wide='{batch_size: 256}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

import ganbench  # noqa: F401  (the torchvision compat shim first)

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--dataset", default="ring8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["minimax", "nonsaturating", "lsgan", "wgan-gp"])
    parser.add_argument("--settings", action="append", default=[],
                        help="NAME=YAML delta over each variant's settings (repeatable); default current={}")
    parser.add_argument("--json", help="write every run's record here")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from ganbench.config import Config, merge
    from ganbench.data import load_prepared, prepare_dataset
    from ganbench.metrics.evaluate import generate, load_generator, mixture_options
    from ganbench.metrics.modes import mixture_metrics
    from ganbench.train.run import train_run

    torch.set_num_threads(1)
    config = Config.load(args.config)
    settings_list = [s.split("=", 1) for s in (args.settings or ["current={}"])]
    work = Path(tempfile.mkdtemp(prefix="ring8-quality-"))
    data_path = work / f"{args.dataset}.npz"
    prepare_dataset(config.dataset_builder(args.dataset), data_path, work / "cache")
    data = load_prepared(data_path)
    options = config.evaluation
    n, min_share = mixture_options(options)
    records = []
    for name, delta_text in settings_list:
        delta = yaml.safe_load(delta_text) or {}
        for variant in args.variants:
            settings = merge(config.settings(variant), delta)
            for seed in args.seeds:
                out = work / name / variant / f"seed{seed}"
                t0 = time.process_time()
                result = train_run(settings, data_path, out, seed, threads=1, progress=False)
                cpu = time.process_time() - t0
                net, z_dim = load_generator(out, data, torch.device("cpu"))
                points = torch.cat(list(generate(net, z_dim, n, int(options["batch_size"]), int(options["seed"]),
                                                    torch.device("cpu"))))
                m = mixture_metrics(points.numpy(), np.asarray(data.meta["centers"]), float(data.meta["sigma"]),
                                    min_share=min_share)
                record = {"settings": name, "variant": variant, "seed": seed, "status": result["status"],
                          "train_cpu_seconds": result["train_cpu_seconds"], "run_cpu_seconds": cpu,
                          **{k: m[k] for k in ("modes", "modes_reached", "hq_percent", "reverse_kl")}}
                records.append(record)
                print(json.dumps(record), flush=True)
    print("\nsettings  variant  HQ % (mean, min–max)  modes  modes reached  train CPU s/run")
    for name, _ in settings_list:
        for variant in args.variants:
            rs = [r for r in records if r["settings"] == name and r["variant"] == variant]
            hq = [r["hq_percent"] for r in rs]
            print(f"{name:10s} {variant:14s} {np.mean(hq):5.1f} ({min(hq):.1f}–{max(hq):.1f})  "
                  f"{np.mean([r['modes'] for r in rs]):.1f}  {np.mean([r['modes_reached'] for r in rs]):.1f}  "
                  f"{np.mean([r['train_cpu_seconds'] for r in rs]):.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
