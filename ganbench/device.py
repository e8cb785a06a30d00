"""Device choice: the visible CUDA device (honouring CUDA_VISIBLE_DEVICES), Apple MPS, else the CPU."""

from __future__ import annotations

import os

import torch

from ganbench.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    # checked where the job runs, not by the config check: a cluster's submit node often has no GPU
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("runtime.device: 'cuda' requested but no CUDA device is visible")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("runtime.device: 'mps' requested but no Apple MPS device is available")
    return torch.device(name)


def configure_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads, else the CPUs this process may run on (Snakemake's ``threads``
    arrive as OMP_NUM_THREADS/SLURM_CPUS_PER_TASK, which torch already honours)."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env and env.isdigit() else len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu:{torch.get_num_threads()} threads"
    return device.type
