"""Device choice: the visible CUDA device (honouring CUDA_VISIBLE_DEVICES), Apple MPS, else the CPU; the process's
compute settings (threads, and the allocator's reuse of freed memory)."""

from __future__ import annotations

import ctypes
import os
import sys

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
    arrive as OMP_NUM_THREADS/SLURM_CPUS_PER_TASK, which torch already honours). Every compute command calls this
    first, so it also makes the allocator keep freed memory for reuse (``reuse_freed_memory``)."""
    reuse_freed_memory()
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env and env.isdigit() else len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to 32 MiB come from the heap, so they are reused
TRIM_THRESHOLD = 1 << 30  # the heap is not shrunk until 1 GiB of its top is free


def reuse_freed_memory() -> bool:
    """Keep freed CPU tensor memory in the process for the next allocation instead of returning it to the OS.

    PyTorch's CPU tensors come from ``malloc``. glibc serves blocks above its mmap threshold (128 KiB at first,
    raised by each freed block up to 32 MiB) with a fresh ``mmap`` and unmaps them on free, and it trims the
    heap's free top back to the OS; the next allocation of that size then faults in zeroed pages again. A
    training step allocates and frees the same activations and gradients every iteration: a DCGAN step of width
    32 at batch 64 took 865–5500 page faults (3–21 MiB of pages zeroed by the kernel, depending on what the process
    allocated before), and with a fixed 32 MiB mmap threshold and a 1 GiB trim threshold it reuses its own freed
    memory instead (≈ 7 faults a step; the step's CPU time 1.0–1.3× shorter, ``benchmarks/README.md``). Smaller
    models (the MLP) fault rarely either way. The process keeps its peak heap, which it reaches in the first step
    anyway. Does nothing where the C library is not glibc; returns whether the settings were
    applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        _ = libc.gnu_get_libc_version  # glibc only (musl has no mallopt parameters)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu:{torch.get_num_threads()} threads"
    return device.type
