#!/usr/bin/env python
"""Training throughput: ganbench's Trainer (a) against a reference loop written like the PyTorch examples DCGAN (b).

Both sides train the *same* networks (built from ganbench's architecture registry, so the layers and their initial
weights are identical; the reference gets plain ``nn.ConvTranspose2d`` layers where ganbench's DCGAN uses its
faster CPU path for the output layer, ``ganbench.models.conv_transpose``) with the same loss, optimizer and batch
size on Fashion-MNIST:

  dcgan    DCGAN (width 32, as in config/config.yaml), non-saturating loss, Adam 2e-4 (0.5, 0.999), d_steps 1
  mlp      the vanilla MLP GAN (hidden 256, 2 layers), non-saturating loss, Adam 2e-4 (0.5, 0.999), d_steps 1
  wgan-gp  the MLP GAN with WGAN-GP (lambda 10), Adam 1e-4 (0.0, 0.9), n_critic 5 (config/config.yaml's variant D)

(a) ``ganbench.train.gan.GAN`` built from ``merge(SETTINGS_DEFAULTS, ...)`` and driven by
    ``ganbench.train.trainer.Trainer`` on the prepared .npz tensor (the whole uint8 dataset as one tensor, random
    index batches converted to float per batch). Its step is ganbench's own: fused Adam, one G forward per
    iteration (the G step reuses the last D step's fake) and D frozen during the G step. log_every = 25 as in the
    default config (its host sync is included), checkpoints are disabled (checkpoint_every = 10^9) and the one
    snapshot is written at the end of the warm-up, outside the timed window.
(b) the reference: ``torchvision.datasets.FashionMNIST`` (read from local IDX files, no download) with
    ToTensor + Normalize((0.5,), (0.5,)), ``DataLoader(batch_size=64, shuffle=True, num_workers=--ref-workers)``,
    separate real and fake D passes with two backward calls, ``nn.BCEWithLogitsLoss`` with label tensors, the G
    step reusing the D step's fake (as the example does), and ``.item()`` on the losses and D outputs every step.
    For WGAN-GP the critic loop follows the well-known PyTorch WGAN-GP code (backward(-1)/backward(+1) on the
    critic means, a separate gradient-penalty backward, ``requires_grad`` toggling, ``.item()`` every step).

Every measurement runs in a fresh subprocess (so ``ru_maxrss`` is that variant's peak RSS), the two variants
alternate (a, b, then b, a, ...) for --rounds rounds, each after --warmup untimed iterations. Images/s counts real
images the discriminator sees (steps x batch x d_steps), as ganbench's train.json does.

Numerics check: one process builds the GAN once, copies G and D into the reference loop, feeds both the very same
real batches (the same indices, each side through its own data pipeline) and the same noise, seeds the global RNG
identically (WGAN-GP's interpolation weights), and compares the first --check-steps losses. ganbench draws one z
per D step and its G step reuses the last D step's fake; the non-saturating reference does the same, and the
WGAN-GP reference, which draws a fresh z for its G step, is given that last critic step's z again.

On a GPU (``--device cuda``) both sides train there: ganbench's Trainer keeps the dataset on the device, the
reference moves each DataLoader batch to it (``--ref-workers`` loader processes, as the example's ``--workers``);
``--amp``/``--compile`` turn on ganbench's runtime switches for side (a). Timings synchronise the device. The issue's
GPU target is DCGAN a/b >= 3 on the same GPU.

Run:  .venv/bin/python benchmarks/train_throughput.py [--models dcgan mlp wgan-gp] [--rounds 3] [--threads 1]
          [--device cuda --ref-workers 2 [--amp] [--compile]]
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import ganbench  # noqa: F401  (before torchvision: installs the compat shim)
from ganbench.device import describe

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NPZ = "/tmp/fmnist.npz"
RAW_MIRROR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SHAPE, KIND, NUM_CLASSES, Z_DIM, BATCH = (1, 28, 28), "image", 10, 64, 64
NUMERICS_TOL = 1e-3  # absolute, on losses of order 1: float32 reassociation grows to ~1e-4 over 20 steps

MODELS = {
    "dcgan": {"architecture": {"name": "dcgan", "width": 32}, "loss": "nonsaturating", "d_steps": 1,
              "lr": 2e-4, "betas": (0.5, 0.999), "steps": 60},
    "mlp": {"architecture": {"name": "mlp", "hidden": 256, "layers": 2}, "loss": "nonsaturating", "d_steps": 1,
            "lr": 2e-4, "betas": (0.5, 0.999), "steps": 400},
    "wgan-gp": {"architecture": {"name": "mlp", "hidden": 256, "layers": 2}, "loss": "wgan-gp", "d_steps": 5,
                "lr": 1e-4, "betas": (0.0, 0.9), "steps": 60},
}


# ====================================================================== shared pieces
def settings_for(model: str, steps: int, dcgan_width: int | None = None) -> dict:
    from ganbench.config import SETTINGS_DEFAULTS, merge

    spec = MODELS[model]
    arch = dict(spec["architecture"])
    if dcgan_width and arch["name"] == "dcgan":
        arch["width"] = dcgan_width
    return merge(SETTINGS_DEFAULTS, {
        "architecture": arch, "loss": spec["loss"], "d_steps": spec["d_steps"], "z_dim": Z_DIM, "batch_size": BATCH,
        "optimizer": {"name": "adam", "lr_g": spec["lr"], "lr_d": spec["lr"], "betas": list(spec["betas"])},
        "steps": steps, "checkpoint_every": 10**9, "log_every": 25, "snapshots": 1,
    })


def build_networks(settings: dict) -> tuple[nn.Module, nn.Module]:
    """G and D exactly as ganbench.train.gan.GAN builds them (same registry, same options, same init)."""
    from ganbench.models import ARCHITECTURES

    family = ARCHITECTURES.build(settings["architecture"], "architecture", SHAPE, KIND, Z_DIM, NUM_CLASSES)
    return family.generator(), family.discriminator()


def with_torch_layers(net: nn.Module) -> nn.Module:
    """``net`` with every ganbench layer that has a faster CPU path (``ganbench.models.conv_transpose``) replaced by
    the plain ``torch.nn`` layer with the same weights, as the PyTorch example builds its networks."""
    from ganbench.models.conv_transpose import ConvTranspose2d

    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConvTranspose2d):
                plain = nn.ConvTranspose2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                           child.padding, bias=child.bias is not None)
                plain.load_state_dict(child.state_dict())
                setattr(parent, name, plain)
    return net


def ensure_torchvision_root(root: Path) -> Path:
    """torchvision's FashionMNIST loads from <root>/FashionMNIST/raw/<IDX files> without downloading."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        if not (raw / name).exists():
            tmp = raw / (name + ".part")
            with gzip.open(RAW_MIRROR / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.rename(raw / name)
    return root


def torchvision_dataset(root: Path):
    from torchvision import datasets, transforms

    return datasets.FashionMNIST(str(root), train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))


def ensure_npz(path: Path) -> None:
    if path.exists():
        return
    print(f"preparing {path} with `ganbench prepare` ...", flush=True)
    subprocess.run([sys.executable, "-m", "ganbench", "prepare", "--config", str(REPO / "config/config.yaml"),
                    "--dataset", "fashion_mnist", "--out", str(path), "--cache-dir",
                    str(Path(tempfile.gettempdir()) / "ganbench-bench-downloads")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def git_state() -> str:
    def git(*cmd):
        return subprocess.run(["git", "-C", str(REPO), *cmd], capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "ganbench")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in ganbench/" if dirty else "")


def peak_rss_mib() -> dict[str, float]:
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


# ====================================================================== (b) the reference loop
class Reference:
    """The PyTorch-examples style loop. ``noise`` and ``uniform`` are hooks for the numerics check."""

    def __init__(self, settings: dict, netG: nn.Module, netD: nn.Module, batches,
                 device: torch.device | None = None):
        self.device = device = device or torch.device("cpu")
        self.netG, self.netD = netG.to(device), netD.to(device)
        opt = settings["optimizer"]
        self.optimizerD = torch.optim.Adam(netD.parameters(), lr=opt["lr_d"], betas=tuple(opt["betas"]))
        self.optimizerG = torch.optim.Adam(netG.parameters(), lr=opt["lr_g"], betas=tuple(opt["betas"]))
        self.criterion = nn.BCEWithLogitsLoss()
        self.wgan = settings["loss"]["name"] == "wgan-gp"
        self.gp_weight = float(settings["loss"].get("gp_weight", 10.0))
        self.critic_iters = int(settings["d_steps"])
        self.batches = batches
        self.noise = lambda n: torch.randn(n, Z_DIM, device=device)
        self.images = 0

    def iteration(self) -> dict[str, float]:
        return self._wgan_gp() if self.wgan else self._dcgan()

    def _dcgan(self) -> dict[str, float]:
        netG, netD, criterion = self.netG, self.netD, self.criterion
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = next(self.batches).to(self.device)  # (the example's name; `data[0].to(device)`)
        b_size = real_cpu.size(0)
        self.images += b_size
        label = torch.full((b_size,), 1.0, dtype=real_cpu.dtype, device=self.device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = torch.sigmoid(output).mean().item()
        noise = self.noise(b_size)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = torch.sigmoid(output).mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = torch.sigmoid(output).mean().item()
        self.optimizerG.step()
        return {"loss_d": errD.item(), "loss_g": errG.item(), "d_real": D_x, "d_fake": D_G_z1, "d_fake2": D_G_z2}

    def _gradient_penalty(self, real, fake):
        alpha = torch.rand(real.size(0), 1, device=real.device)
        alpha = alpha.expand(real.size(0), real[0].numel()).contiguous().view(real.size())
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        disc_interpolates = self.netD(interpolates)
        gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                        grad_outputs=torch.ones(disc_interpolates.size(), device=real.device),
                                        create_graph=True, retain_graph=True, only_inputs=True)[0]
        gradients = gradients.view(gradients.size(0), -1)
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean() * self.gp_weight

    def _wgan_gp(self) -> dict[str, float]:
        netG, netD = self.netG, self.netD
        one, mone = torch.tensor(1.0, device=self.device), torch.tensor(-1.0, device=self.device)
        for p in netD.parameters():
            p.requires_grad = True
        for _ in range(self.critic_iters):
            real = next(self.batches).to(self.device)
            b_size = real.size(0)
            self.images += b_size
            netD.zero_grad()
            D_real = netD(real).mean()
            D_real.backward(mone)
            with torch.no_grad():
                fake = netG(self.noise(b_size))
            D_fake = netD(fake).mean()
            D_fake.backward(one)
            gradient_penalty = self._gradient_penalty(real, fake)
            gradient_penalty.backward()
            D_cost = D_fake - D_real + gradient_penalty
            Wasserstein_D = D_real - D_fake
            self.optimizerD.step()
            d_cost, w_d, gp = D_cost.item(), Wasserstein_D.item(), gradient_penalty.item()
        for p in netD.parameters():
            p.requires_grad = False
        netG.zero_grad()
        fake = netG(self.noise(BATCH))
        G = netD(fake).mean()
        G.backward(mone)
        G_cost = -G
        self.optimizerG.step()
        for p in netD.parameters():  # restore, so FLOP counting / reuse sees the same graph next iteration
            p.requires_grad = True
        return {"loss_d": d_cost, "loss_g": G_cost.item(), "critic_gap": w_d, "penalty": gp}


def loader_batches(dataset, workers: int):
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers)
    while True:  # epochs, as `for epoch in range(niter): for i, data in enumerate(dataloader)` would
        for data, _ in loader:
            yield data


# ====================================================================== FLOPs and the CPU's peak
def count_flops(fn) -> int:
    """FLOPs of matmuls and convolutions (forward and backward) in one call of ``fn``, using the formulas of
    ``torch.utils.flop_counter``. (FlopCounterMode itself cannot be used: its module tracker breaks
    ``torch.autograd.grad``, which WGAN-GP's penalty calls.)"""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += int(formula(*args, **kwargs, out_val=out))
            return out

    with Counter():
        fn()
    return Counter.total


def cpu_peak(flops_per_cycle: int | None) -> dict:
    """Peak fp32 FLOP/s = cores x clock x FLOPs/cycle/core (FMA = 2 FLOPs), from lscpu and /proc/cpuinfo."""
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    mhz = float(info.get("CPU max MHz") or 0.0)
    if not mhz:
        try:
            mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text()))
        except ValueError:
            mhz = 2000.0
    flags = set(info.get("Flags", "").split())
    vendor, family = info.get("Vendor ID", ""), int(info.get("CPU family", "0") or 0)
    if flops_per_cycle:
        fpc, why = flops_per_cycle, "given with --peak-flops-per-cycle"
    elif vendor == "AuthenticAMD" and "avx2" in flags and "fma" in flags:
        # Zen 2/3/4: two 256-bit FMA pipes (Zen 4 runs AVX-512 double-pumped on them); Zen 5 (family 26): 512-bit
        fpc = 64 if family >= 26 else 32
        why = f"AMD family {family}: 2 FMA pipes x {fpc // 4} fp32 lanes x 2 FLOPs"
    elif "avx512f" in flags:
        fpc, why = 64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2 FLOPs (server Xeon)"
    elif "avx2" in flags and "fma" in flags:
        fpc, why = 32, "AVX2: 2 FMA units x 8 fp32 lanes x 2 FLOPs"
    else:
        fpc, why = 16, "SSE: no FMA assumed, 2 x 4 lanes x 2"
    return {"model": info.get("Model name", platform.processor()), "cores": cores, "ghz": mhz / 1000,
            "flops_per_cycle": fpc, "why": why, "peak": cores * mhz * 1e6 * fpc}


# ====================================================================== subprocess workers
def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings on a GPU are otherwise only the launch time)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def wait_for_start(start_file: str | None) -> None:
    """With --start-file (device_sharing.py): report readiness, then wait until every worker is ready."""
    if start_file is None:
        return
    Path(f"{start_file}.ready.{os.getpid()}").touch()
    while not Path(start_file).exists():
        time.sleep(0.005)


def worker_ganbench(args) -> dict:
    from ganbench.data import load_prepared
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import Trainer

    settings = settings_for(args.model, args.warmup + args.steps, args.dcgan_width)
    data = load_prepared(args.npz)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as ganbench's runtime.cudnn_benchmark default
    torch.manual_seed(args.seed)
    gan = GAN(settings, data.shape, data.kind, data.num_classes, device)
    if args.compile:  # as ganbench.train.run does for runtime.compile
        for net in gan.networks().values():
            net.compile()
    with tempfile.TemporaryDirectory(prefix="ganbench-bench-") as out:
        trainer = Trainer(gan, torch.from_numpy(data.x_train), Path(out), steps=args.warmup,
                          log_every=int(settings["log_every"]), checkpoint_every=int(settings["checkpoint_every"]),
                          snapshots=1, progress=False, amp=args.amp)
        trainer.fit()  # warm-up (and compilation); its one snapshot is written here, outside the timed window
        trainer.steps = args.warmup + args.steps
        elapsed0 = trainer.elapsed
        sync(device)
        wait_for_start(args.start_file)
        start = time.time()
        t0, c0 = time.perf_counter(), time.process_time()
        result = trainer.fit()
        sync(device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        end = time.time()
        assert result["status"] == "ok", result
        step_seconds = trainer.elapsed - elapsed0
        flops = count_flops(lambda: gan.train_step(trainer.next_real))
    images = args.steps * gan.batch_size * gan.batches_per_step
    return {"images_per_second": images / wall, "seconds": wall, "step_seconds": step_seconds, "images": images,
            "start": start, "end": end, "device": describe(device),
            "cpu_seconds": cpu, "images_per_cpu_second": images / cpu,
            "iterations": args.steps, "flops_per_iteration": flops, "iterations_per_second": args.steps / wall,
            "final_loss_d": trainer.rows[-1]["loss_d"]}


def worker_reference(args) -> dict:
    settings = settings_for(args.model, args.warmup + args.steps, args.dcgan_width)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the PyTorch DCGAN example sets it too
    torch.manual_seed(args.seed)
    netG, netD = (with_torch_layers(net) for net in build_networks(settings))
    dataset = torchvision_dataset(ensure_torchvision_root(Path(args.tv_root)))
    ref = Reference(settings, netG, netD, loader_batches(dataset, args.ref_workers), device)
    for _ in range(args.warmup):
        ref.iteration()
    images0 = ref.images
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        stats = ref.iteration()
    sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    images = ref.images - images0
    flops = count_flops(ref.iteration)
    return {"images_per_second": images / wall, "seconds": wall, "iterations": args.steps,
            "cpu_seconds": cpu, "images_per_cpu_second": images / cpu,
            "flops_per_iteration": flops, "iterations_per_second": args.steps / wall, "final_loss_d": stats["loss_d"]}


def worker_numerics(args) -> dict:
    """Same initial weights, same real batches (by index), same noise, same RNG for the GP: compare losses."""
    from torch.utils.data import DataLoader, Subset

    from ganbench.data import load_prepared
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import Trainer, to_model_space

    n = args.check_steps
    settings = settings_for(args.model, n, args.dcgan_width)
    d_steps = int(settings["d_steps"])
    data = load_prepared(args.npz)
    torch.manual_seed(args.seed)
    gan = GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
    ref_G, ref_D = (with_torch_layers(copy.deepcopy(net)) for net in (gan.G, gan.D))
    gen = torch.Generator().manual_seed(args.seed + 1)
    indices = [torch.randint(0, len(data.x_train), (BATCH,), generator=gen) for _ in range(n * d_steps)]
    # noise: one z per D step. ganbench's G step reuses the last D step's fake (GAN.d_step(keep_fake=True)), so it
    # samples no z of its own. The non-saturating reference reuses its D step's fake too (as the PyTorch example
    # does); the WGAN-GP reference draws a fresh z for its G step, so it is given the last critic step's z again.
    z_d = [torch.randn(BATCH, Z_DIM, generator=gen) for _ in range(n * d_steps)]
    ganbench_noise = list(z_d)
    if settings["loss"]["name"] == "wgan-gp":
        reference_noise = [z for i in range(n)
                           for z in (*z_d[i * d_steps:(i + 1) * d_steps], z_d[(i + 1) * d_steps - 1])]
    else:
        reference_noise = list(z_d)

    # (b) the reference, fed through torchvision's pipeline (ToTensor + Normalize) with the same indices
    dataset = torchvision_dataset(ensure_torchvision_root(Path(args.tv_root)))
    ref_batches = list(DataLoader(Subset(dataset, torch.cat(indices).tolist()), batch_size=BATCH, shuffle=False))
    ref_batches = [b for b, _ in ref_batches]
    ref = Reference(settings, ref_G, ref_D, iter(ref_batches))
    queue_b = iter(reference_noise)
    ref.noise = lambda _n: next(queue_b)
    torch.manual_seed(12345)
    ref_rows = [ref.iteration() for _ in range(n)]

    # (a) ganbench's Trainer, log_every=1 so every step is a row
    with tempfile.TemporaryDirectory(prefix="ganbench-numerics-") as out:
        trainer = Trainer(gan, torch.from_numpy(data.x_train), Path(out), steps=n, log_every=1,
                          checkpoint_every=10**9, snapshots=1, progress=False)
        queue_a, real_a = iter(ganbench_noise), iter(indices)
        gan.sample_z = lambda _n: next(queue_a)
        trainer.next_real = lambda: to_model_space(trainer.data[next(real_a)])  # as Trainer.next_real converts
        torch.manual_seed(12345)
        trainer.fit()
        rows = trainer.rows
        assert next(queue_a, None) is None, "ganbench drew a different number of z than expected"
        input_diff = max(float((to_model_space(trainer.data[i]) - b).abs().max())
                         for i, b in zip(indices, ref_batches))
    diff_d = [abs(r["loss_d"] - s["loss_d"]) for r, s in zip(rows, ref_rows)]
    diff_g = [abs(r["loss_g"] - s["loss_g"]) for r, s in zip(rows, ref_rows)]
    return {"steps": n, "max_abs_diff_loss_d": max(diff_d), "max_abs_diff_loss_g": max(diff_g),
            "max_abs_diff_input": input_diff, "loss_d_a": [r["loss_d"] for r in rows],
            "loss_d_b": [s["loss_d"] for s in ref_rows], "loss_g_a": [r["loss_g"] for r in rows],
            "loss_g_b": [s["loss_g"] for s in ref_rows]}


WORKERS = {"a": worker_ganbench, "b": worker_reference, "numerics": worker_numerics}


def worker_command(kind: str, model: str, args, steps: int, seed: int | None = None,
                   start_file: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one worker subprocess."""
    cmd = [sys.executable, __file__, "--worker", kind, "--models", model, "--steps", str(steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--npz", args.npz,
           "--tv-root", args.tv_root, "--ref-workers", str(args.ref_workers),
           "--seed", str(args.seed if seed is None else seed), "--check-steps", str(args.check_steps)]
    if args.dcgan_width:
        cmd += ["--dcgan-width", str(args.dcgan_width)]
    cmd += ["--device", args.device] + ["--amp"] * args.amp + ["--compile"] * args.compile
    if start_file:
        cmd += ["--start-file", start_file]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    return cmd, env


def worker_result(kind: str, model: str, returncode: int, stdout: str, stderr: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {kind}/{model} failed (rc {returncode}):\n{stdout}\n{stderr}")


def run_worker(kind: str, model: str, args, steps: int) -> dict:
    cmd, env = worker_command(kind, model, args, steps)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return worker_result(kind, model, proc.returncode, proc.stdout, proc.stderr)


# ====================================================================== the orchestrator
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--rounds", type=int, default=3, help="a/b alternations (>= 3)")
    p.add_argument("--steps", type=int, default=None, help="timed iterations per run (default: per model)")
    p.add_argument("--warmup", type=int, default=10, help="untimed iterations before timing")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides (the Snakemake "
                                                          "train rule uses 1)")
    p.add_argument("--ref-workers", type=int, default=0, help="DataLoader num_workers of the reference")
    p.add_argument("--dcgan-width", type=int, default=None, help="DCGAN width (default 32, as config.yaml)")
    p.add_argument("--check-steps", type=int, default=20, help="steps compared by the numerics check (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--npz", default=DEFAULT_NPZ, help="prepared Fashion-MNIST (made with `ganbench prepare` if "
                                                      "missing)")
    p.add_argument("--tv-root", default=str(Path(tempfile.gettempdir()) / "ganbench-bench-torchvision"))
    p.add_argument("--peak-flops-per-cycle", type=int, default=None, help="override the per-core fp32 FLOPs/cycle")
    p.add_argument("--json", default=None, help="also write all measurements to this JSON file")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]: both sides train there (the numerics check "
                                                    "always runs on the CPU)")
    p.add_argument("--amp", action="store_true", help="(a) only: bf16 autocast (ganbench's runtime.amp)")
    p.add_argument("--compile", action="store_true", help="(a) only: torch.compile G and D (runtime.compile)")
    p.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--start-file", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        torch.set_num_threads(args.threads)
        model = args.models[0]
        args.model = model
        args.steps = args.steps or MODELS[model]["steps"]
        out = WORKERS[args.worker](args)
        out["peak_rss_mib"] = peak_rss_mib()
        out["threads"] = torch.get_num_threads()
        print("RESULT " + json.dumps(out), flush=True)
        return

    ensure_npz(Path(args.npz))
    ensure_torchvision_root(Path(args.tv_root))
    peak = cpu_peak(args.peak_flops_per_cycle)
    used_peak = peak["peak"] * min(args.threads, peak["cores"]) / peak["cores"]
    gpu = torch.device(args.device).type == "cuda"
    print(f"torch {torch.__version__}, {args.threads} thread(s), reference DataLoader num_workers={args.ref_workers}, "
          f"device {args.device}" + (f" ({torch.cuda.get_device_name(torch.device(args.device))})" if gpu else "")
          + f", ganbench side: amp {args.amp}, compile {args.compile}")
    print(f"CPU: {peak['model']}, {peak['cores']} cores @ {peak['ghz']:.2f} GHz, {peak['flops_per_cycle']} fp32 "
          f"FLOPs/cycle/core ({peak['why']}) -> peak {peak['peak'] / 1e9:.0f} GFLOP/s for the CPU, "
          f"{used_peak / 1e9:.0f} GFLOP/s for {args.threads} thread(s)")
    print("(a) ganbench Trainer, checkpoints off, log_every 25 (sync included); (b) PyTorch-examples loop\n",
          flush=True)

    results: dict = {"cpu": peak, "threads": args.threads, "ref_workers": args.ref_workers, "git": git_state(),
                     "device": args.device, "amp": args.amp, "compile": args.compile,
                     "load_before": os.getloadavg(), "models": {}}
    for model in args.models:
        steps = args.steps or MODELS[model]["steps"]
        per: dict[str, list[dict]] = {"a": [], "b": []}
        for r in range(args.rounds):
            for kind in (("a", "b") if r % 2 == 0 else ("b", "a")):
                res = run_worker(kind, model, args, steps)
                per[kind].append(res)
                print(f"  {model:8s} round {r + 1} {kind}: {res['images_per_second']:7.0f} images/s wall, "
                      f"{res['images_per_cpu_second']:7.0f} images/CPU-s ({res['seconds']:.1f} s, peak RSS "
                      f"{res['peak_rss_mib']['self']:.0f} MiB, load {os.getloadavg()[0]:.1f})", flush=True)
        summary: dict = {"steps": steps, "warmup": args.warmup}
        for metric in ("images_per_second", "images_per_cpu_second"):
            vals = {k: [x[metric] for x in v] for k, v in per.items()}
            ratios = [a / b for a, b in zip(vals["a"], vals["b"])]
            summary[metric] = {k: statistics.median(v) for k, v in vals.items()}
            summary[metric + "_rounds"] = vals
            summary[metric + "_ratio_rounds"] = ratios
            summary[metric + "_ratio"] = statistics.median(ratios)
        summary["ratio"] = summary["images_per_second_ratio"]
        summary["peak_rss_mib"] = {k: max(x["peak_rss_mib"]["self"] for x in v) for k, v in per.items()}
        summary["peak_rss_children_mib"] = {k: max(x["peak_rss_mib"]["children"] for x in v) for k, v in per.items()}
        summary["flops_per_iteration"] = {k: v[0]["flops_per_iteration"] for k, v in per.items()}
        # achieved FLOP/s: FLOPs per iteration x iterations per second (wall), and per CPU-second
        summary["gflops_per_second"] = {
            k: statistics.median(x["flops_per_iteration"] * x["iterations"] / x["seconds"] for x in v) / 1e9
            for k, v in per.items()}
        summary["gflops_per_cpu_second"] = {
            k: statistics.median(x["flops_per_iteration"] * x["iterations"] / x["cpu_seconds"] for x in v) / 1e9
            for k, v in per.items()}
        if args.check_steps:
            summary["numerics"] = run_worker("numerics", model, args, steps)
        results["models"][model] = summary
    results["load_after"] = os.getloadavg()

    print("\n" + "=" * 118)
    print(f"git {results['git']}; load average before {results['load_before'][0]:.1f}, after "
          f"{results['load_after'][0]:.1f} ({peak['cores']} cores): wall-clock numbers are only as good as the "
          "machine is idle; images per CPU-second (process CPU time, 1 thread) are robust to time-slicing.")
    print(f"{'model':8s} | {'img/s a':>8s} {'img/s b':>8s} {'a/b':>6s} {'a/b rounds':>16s} | {'img/CPU-s a':>11s} "
          f"{'img/CPU-s b':>11s} {'a/b':>6s} {'a/b rounds':>16s} | {'peak RSS a/b MiB':>16s}")
    for model, s in results["models"].items():
        w, c = s["images_per_second"], s["images_per_cpu_second"]
        print(f"{model:8s} | {w['a']:8.0f} {w['b']:8.0f} {s['images_per_second_ratio']:5.2f}x "
              f"{' '.join(f'{r:.2f}' for r in s['images_per_second_ratio_rounds']):>16s} | {c['a']:11.0f} "
              f"{c['b']:11.0f} {s['images_per_cpu_second_ratio']:5.2f}x "
              f"{' '.join(f'{r:.2f}' for r in s['images_per_cpu_second_ratio_rounds']):>16s} | "
              f"{s['peak_rss_mib']['a']:7.0f} / {s['peak_rss_mib']['b']:.0f}")
    print(f"\nFLOPs (matmul/conv forward+backward per iteration, torch.utils.flop_counter formulas); share of the "
          f"{args.threads}-thread peak {used_peak / 1e9:.0f} GFLOP/s "
          f"[share of the whole CPU's {peak['peak'] / 1e9:.0f}]:"
          if not gpu else "\nFLOPs (matmul/conv forward+backward per iteration) and GFLOP/s on the GPU:")
    for model, s in results["models"].items():
        if gpu:
            f, g = s["flops_per_iteration"], s["gflops_per_second"]
            print(f"  {model:8s} " + " | ".join(f"{k}: {f[k] / 1e9:.3f} GFLOP/it, {g[k]:.1f} GFLOP/s" for k in "ab"))
            continue
        f, g, gc = s["flops_per_iteration"], s["gflops_per_second"], s["gflops_per_cpu_second"]
        parts = []
        for k in ("a", "b"):
            parts.append(f"{k}: {f[k] / 1e9:.3f} GFLOP/it, {g[k]:.1f} GFLOP/s wall = "
                         f"{100 * g[k] * 1e9 / used_peak:.1f}% [{100 * g[k] * 1e9 / peak['peak']:.1f}%], "
                         f"{gc[k]:.1f} GFLOP/CPU-s = "
                         f"{100 * gc[k] * 1e9 / used_peak:.1f}%")
        print(f"  {model:8s} " + " | ".join(parts))
    targets = {"dcgan": 3.0} if gpu else {"mlp": 2.0, "dcgan": 1.1}
    print("\nTargets (issue): " + ("on a GPU, DCGAN a/b >= 3 (images/s)" if gpu else
                                  "MLP a/b >= 2.0, DCGAN a/b >= 1.1 (images/s; wall-clock and CPU-time ratios)"))
    for model, want in targets.items():
        if model in results["models"]:
            s = results["models"][model]
            for metric, label in (("images_per_second_ratio", "wall"), ("images_per_cpu_second_ratio", "CPU")):
                got = s[metric]
                verdict = "PASS" if got >= want else "FAIL"
                print(f"  {model:8s} {label:4s} a/b = {got:.2f} vs target {want:.1f}: {verdict}")
    if args.check_steps:
        print(f"\nNumerics (first {args.check_steps} steps: same initial weights, real batches, noise and RNG; "
              f"tolerance {NUMERICS_TOL:g}):")
        for model, s in results["models"].items():
            n = s["numerics"]
            first = max(abs(n["loss_d_a"][0] - n["loss_d_b"][0]), abs(n["loss_g_a"][0] - n["loss_g_b"][0]))
            worst = max(n["max_abs_diff_loss_d"], n["max_abs_diff_loss_g"])
            print(f"  {model:8s} max |loss_d a-b| = {n['max_abs_diff_loss_d']:.2e}, max |loss_g a-b| = "
                  f"{n['max_abs_diff_loss_g']:.2e}, step 1: {first:.1e} (inputs differ by <= "
                  f"{n['max_abs_diff_input']:.1e}): {'PASS' if worst <= NUMERICS_TOL else 'FAIL'}; loss_d a "
                  f"{[round(v, 4) for v in n['loss_d_a'][:3]]}... b {[round(v, 4) for v in n['loss_d_b'][:3]]}...")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
