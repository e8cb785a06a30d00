"""One benchmark run, (dataset, variant, seed) → a folder of outputs. Used by ``ganbench train`` and the DAG.

Outputs in ``out_dir``: ``generator.pt`` (weights of the network to sample from), ``samples.png`` (a fixed-noise
grid, or a scatter over the mixture for 2-D data), ``log.csv`` (per-window losses, D(x), D(G(z)), critic gap),
``snapshots/`` (generator weights along training, for FID over training), ``identity.json`` (the hash of all that
shapes the weights, see ``ganbench.runs``) and, written last, ``train.json`` (status, steps, timings, device, the
settings as run, the identity). ``ckpt/`` holds resumable checkpoints.

``train.json`` is the only file the DAG declares: it is written for every run that ends, "ok" or "diverged" from
training itself and "failed" by ``record_failure`` when training raised, so one crashed run never stops the
evaluation, aggregation and report of the others. Snakemake deletes a declared output before rerunning its job;
nothing else in the folder is declared, so an interrupted run keeps its checkpoints and resumes from them.
"""

from __future__ import annotations

import os
import platform
import random
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench import runs, specs
from ganbench.data import Prepared, load_prepared
from ganbench.data.base import fingerprint
from ganbench.device import configure_threads, describe, pick_device
from ganbench.io import torch_save, write_json
from ganbench.timing import job_costs
from ganbench.train.models import TrainingModel, build_model
from ganbench.train.trainer import Trainer

SAMPLE_SEED = 1234  # fixed noise for sample grids: the same z for every variant and seed


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_gan(settings: dict[str, Any], data: Prepared, device: torch.device) -> TrainingModel:
    """The model to train: a GAN, or the non-adversarial model the architecture names (``training_model``)."""
    return build_model(settings, data.shape, data.kind, data.num_classes, device)


def fixed_noise(n: int, z_dim: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(SAMPLE_SEED)
    return torch.randn(n, z_dim, generator=gen).to(device)


def allow_double_backward() -> None:
    """Let compiled networks take a second backward pass (gradient penalties, R1, path-length terms
    differentiate D's gradient): AOTAutograd's donated buffers free saved tensors after the first backward, and a
    double backward through a compiled graph then fails ("...backward through the graph a second time...")."""
    import torch._functorch.config

    torch._functorch.config.donated_buffer = False


def train_run(settings: dict[str, Any], data_path: str | Path, out_dir: str | Path, seed: int,
              runtime: dict[str, Any] | None = None, threads: int | None = None,
              progress: bool | None = None, reuse: str | Path | None = None) -> dict[str, Any]:
    """Train one run into ``out_dir``: resume it when the folder holds a run of the same identity, else move the
    folder's contents aside (``ganbench.runs.claim``) and start fresh. ``settings`` may carry display keys
    (label, datasets): they are dropped, they shape nothing. ``reuse``: the folder of a finished run that may be
    this very run (a search's phase-1 run of the selected setting): when its identity is this run's, its files are
    copied (``ganbench.runs.copy_run``) instead of training again."""
    from ganbench.config import RUNTIME_DEFAULTS

    runtime = {**RUNTIME_DEFAULTS, **(runtime or {})}
    settings = {k: v for k, v in settings.items() if k not in specs.DISPLAY_KEYS}
    out = Path(out_dir)
    start = time.perf_counter()
    threads = configure_threads(threads or runtime.get("threads"))
    device = pick_device(runtime["device"])
    if runtime["deterministic"]:
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(runtime["cudnn_benchmark"]) and not runtime["deterministic"]
    data = load_prepared(data_path)
    identity = specs.train_identity({"settings": settings, "seed": seed, "runtime": runtime}, fingerprint(data))
    if reuse is not None:
        copied = runs.copy_run(reuse, out, identity)
        if copied is not None:
            return copied
    run_id, moved = runs.claim(out, identity)
    seed_everything(seed)
    gan = build_gan(settings, data, device)
    if runtime["compile"]:  # worth it on a GPU; on a CPU it compiles with the host C++ compiler (tests use that)
        allow_double_backward()
        for net in gan.networks().values():
            net.compile()  # in place: state_dict keys stay as they are, so checkpoints are interchangeable
    trainer = Trainer(gan, torch.from_numpy(data.x_train), out, steps=int(settings["steps"]),
                      log_every=int(settings["log_every"]), checkpoint_every=int(settings["checkpoint_every"]),
                      snapshots=int(settings["snapshots"]), progress=progress,
                      amp=bool(runtime["amp"]), labels=torch.from_numpy(data.y_train), identity=run_id)
    setup = time.perf_counter() - start
    result = trainer.fit()
    sampler = gan.sampler()
    torch_save(sampler.state_dict(), out / "generator.pt")
    raw = gan.raw_generator()
    if raw is not None:  # EMA (or another evaluation copy): keep the raw weights for comparison
        torch_save(raw.state_dict(), out / "generator_raw.pt")
    save_samples(gan, sampler, data, out / "samples.png")
    result.update({
        "identity": run_id,
        "stale_moved_to": os.path.relpath(moved) if moved else None,
        "seed": seed,
        "device": describe(device),
        "threads": threads,
        "runtime": runtime,
        "setup_seconds": setup,
        "total_seconds": time.perf_counter() - start,
        **job_costs(),  # the whole process: start-up and imports too
        "settings": settings,
        "data": {k: data.meta[k] for k in ("name", "kind", "shape", "num_classes")},
        "torch": torch.__version__,
        "python": platform.python_version(),
    })
    write_json(out / "train.json", result)
    return result


def record_failure(out_dir: str | Path, settings: dict[str, Any], seed: int, exc: BaseException,
                   runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write train.json for a run whose training raised: status "failed", the error's last line as the message
    (the traceback is in the job's log). The run's other files stay as they were: a checkpoint of this identity
    is resumed when the run is trained again."""
    out = Path(out_dir)
    lines = [line for line in traceback.format_exception_only(type(exc), exc) if line.strip()]
    result = {
        "status": "failed",
        "message": lines[-1].strip() if lines else type(exc).__name__,
        "error_type": type(exc).__name__,
        "identity": None,  # the failure may have come before the run folder was claimed
        "steps": 0,
        "train_seconds": 0.0,
        "train_cpu_seconds": 0.0,
        "images_per_second": 0.0,
        "seed": seed,
        "device": None,
        "runtime": runtime,
        "settings": {k: v for k, v in settings.items() if k not in specs.DISPLAY_KEYS},
        **job_costs(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    write_json(out / "train.json", result)
    return result


@torch.no_grad()
def save_samples(gan: TrainingModel, net: torch.nn.Module, data: Prepared, path: Path, n: int = 64) -> None:
    """The fixed-noise picture of ``net`` (the model's sampler)."""
    from ganbench.plots import save_image_grid, save_points

    net.eval()
    count = n if data.kind == "image" else 2000
    conditioning = gan.conditioning
    if conditioning.active and data.kind == "image":
        # one row per label (the first 10 classes), the same 8 noise vectors in every row
        rows = min(conditioning.k, 10)
        z = fixed_noise(8, gan.z_dim, gan.device).repeat(rows, 1)
        labels = torch.arange(rows, device=gan.device).repeat_interleave(8)
        save_image_grid(net(conditioning.code(z, labels)).float().cpu(), path, nrow=8)
        net.train()
        return
    z = fixed_noise(count, gan.z_dim, gan.device)
    if conditioning.active:
        z = conditioning.code(z, torch.arange(count, device=gan.device) % conditioning.k)
    fake = net(z).float().cpu()
    net.train()
    if data.kind == "image":
        save_image_grid(fake, path)
    else:
        save_points(fake.numpy(), np.asarray(data.meta.get("centers", [])), path)
