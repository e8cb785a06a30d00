#!/usr/bin/env python
"""Training throughput: ganbench's Trainer (a) against two references, an examples-style loop (b) and a tight loop (c).

All sides train the *same* networks (same layers, shapes, parameter counts and initial weights) with the same loss,
optimizer settings and batch size on Fashion-MNIST:

  dcgan    DCGAN (width 32, as in config/config.yaml), non-saturating loss, Adam 2e-4 (0.5, 0.999), d_steps 1
  mlp      the vanilla MLP GAN (hidden 256, 2 layers), non-saturating loss, Adam 2e-4 (0.5, 0.999), d_steps 1
  wgan-gp  the MLP GAN with WGAN-GP (lambda 10), Adam 1e-4 (0.0, 0.9), n_critic 5 (config/config.yaml's variant D)

(a) ``ganbench.train.gan.GAN`` built from ``merge(SETTINGS_DEFAULTS, ...)`` and driven by
    ``ganbench.train.trainer.Trainer`` on the prepared .npz tensor (data path: the whole uint8 dataset as one tensor
    on the device, random index batches converted to float per batch), in a process set up as ``ganbench train``
    sets it up (``ganbench.device.configure_threads``: threads, and the allocator keeping freed memory for reuse).
    Its step is ganbench's own: fused Adam, one G forward per iteration (the G step reuses the last D step's fake),
    D frozen during the G step, in-place activations. log_every = 25 as in the default config; checkpoints are
    disabled (checkpoint_every = 10^9).
    Timed: the training steps with their log flushes (host syncs), as the Trainer times them for train.json.
(b) the examples-style reference, written like the PyTorch examples DCGAN: data path ``torchvision.datasets.
    FashionMNIST`` (read from local IDX files, no download), per image ToTensor + Normalize((0.5,), (0.5,)),
    ``DataLoader(batch_size=64, shuffle=True, num_workers=--ref-workers)``; separate real and fake D passes with two
    backward calls, ``nn.BCEWithLogitsLoss`` with label tensors, the G step reusing the D step's fake (as the
    example does), torch's default Adam, ``.item()`` on the losses and D outputs every step. For WGAN-GP the critic
    loop follows the well-known PyTorch WGAN-GP code (backward(-1)/backward(+1) on the critic means, a separate
    gradient-penalty backward, ``requires_grad`` toggling, ``.item()`` every step). Networks: ganbench's, with plain
    ``nn.ConvTranspose2d`` layers.
(c) the tight reference, the loop a careful engineer writes for speed without ganbench (``Tight``): data path the
    whole dataset preloaded once as a float32 tensor in [-1, 1] on the device, random index batches; networks
    written out with plain ``torch.nn`` layers (``tight_networks``; in-place activations; parameter counts asserted
    equal to ganbench's, ganbench's initial weights copied in); one D backward per D step, the G step reusing the
    D step's fake, D frozen in the G step, ``zero_grad(set_to_none=True)``, fused Adam with ganbench's settings,
    losses synced once per 25 iterations. It does what ganbench's step does, without ganbench.
(a-bf16, --bf16) ganbench under bf16 autocast (``runtime.amp``), its own row; its quality: bf16_quality.py.
(c+reuse, --tight-reuse) the tight loop in a process with ganbench's allocator setting and nothing else of it: how
    much of a/c that one setting is.

Every measurement runs in a fresh subprocess (so ``ru_maxrss`` is that variant's peak RSS), the sides alternate
(a, b, c, then c, b, a, ...) for --rounds rounds, each after --warmup untimed iterations; a ratio is taken between
the runs of one round and the median over the rounds is reported, for wall time and for process CPU time (robust
when other jobs time-slice the machine). Images/s counts real images the discriminator sees (steps x batch x
d_steps), as ganbench's train.json does.

Utilization: the FLOPs of one real training step (D and G steps, forward and backward), counted by
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions), times steps per second, as a share of the
CPU's peak: cores x clock x FLOPs/cycle of the ISA's widest FMA (from lscpu and the /proc/cpuinfo flags; fp32,
and bf16 where the CPU has AVX512-BF16 or AMX), printed with its derivation and a measured matrix product as a
check.

--profile: where a step's CPU time goes, for (a) and (c): every aten op's thread CPU time, grouped (convolution
forward and backward, matmul, col2im/im2col, batch norm, optimizer, elementwise), with each group's FLOP rate; the
rest is the autograd engine and Python.

Numerics check: one process builds the GAN once, copies its initial weights into (b) and (c), feeds all three the
very same real batches (the same indices, each side through its own data pipeline) and the same noise, seeds the
global RNG identically (WGAN-GP's interpolation weights), and compares the first --check-steps losses: in float64
(the same computation: they agree to rounding, 1e-9), and in float32 as they train (5e-3: rounding, amplified by
the training dynamics, moves DCGAN's losses by ~1e-3 within 20 steps, which the distance of every side from the
float64 trajectory shows). ganbench draws one z per D step and its G step reuses the last D step's fake; (b) and
(c) do the same, except the WGAN-GP reference (b), which draws a fresh z for its G step and is given that last
critic step's z again.

On a GPU (``--device cuda``) all sides train there: ganbench's Trainer and the tight loop keep the dataset on the
device, the reference (b) moves each DataLoader batch to it (``--ref-workers`` loader processes, as the example's
``--workers``); ``--amp``/``--compile`` turn on ganbench's runtime switches for side (a). Timings synchronise the
device. The issue's GPU target is DCGAN a/b >= 3 on the same GPU.

Run:  .venv/bin/python benchmarks/train_throughput.py [--models dcgan mlp wgan-gp] [--rounds 3] [--threads 1]
          [--bf16] [--tight-reuse] [--profile] [--device cuda --ref-workers 2 [--amp] [--compile]]
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
import torch.nn.functional as F
from torch import nn

import ganbench  # noqa: F401  (before torchvision: installs the compat shim)
from ganbench.device import configure_threads, describe

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NPZ = "/tmp/fmnist.npz"
RAW_MIRROR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SHAPE, KIND, NUM_CLASSES, Z_DIM, BATCH = (1, 28, 28), "image", 10, 64, 64
NUMERICS_TOL_F64 = 1e-9  # float64: the same computation, rounding (1e-16) grown over 20 steps stays below
NUMERICS_TOL = 5e-3  # float32, absolute on losses of order 1: rounding alone moves DCGAN's losses by ~1e-3 (up to
# 2.1e-3 measured, any side against the float64 trajectory) within 20 steps; the MLP's by ~1e-7

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


def page_faults() -> int:
    """Minor page faults of this process so far (each one a freshly mapped page the kernel had to zero)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


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


# ====================================================================== (c) the tight loop
def tight_networks(settings: dict) -> tuple[nn.Module, nn.Module]:
    """G and D written out with plain ``torch.nn`` layers, independently of ganbench's registry (in-place
    activations, as the PyTorch example has them). Same layers, shapes and parameter counts as ganbench's networks
    (``load_weights`` checks every tensor's shape); D returns (N, 1) logits."""
    arch = settings["architecture"]
    if arch["name"] == "dcgan":
        w = int(arch["width"])
        c0, s0 = 2 * w, SHAPE[1] // 4  # 28x28: two stride-2 upsamplings from 7x7
        G = nn.Sequential(nn.Linear(Z_DIM, c0 * s0 * s0, bias=False), nn.Unflatten(1, (c0, s0, s0)),
                          nn.BatchNorm2d(c0), nn.ReLU(True),
                          nn.ConvTranspose2d(c0, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
                          nn.ConvTranspose2d(w, SHAPE[0], 4, 2, 1), nn.Tanh())
        D = nn.Sequential(nn.Conv2d(SHAPE[0], w, 4, 2, 1), nn.LeakyReLU(0.2, True),
                          nn.Conv2d(w, c0, 4, 2, 1, bias=False), nn.BatchNorm2d(c0), nn.LeakyReLU(0.2, True),
                          nn.Flatten(), nn.Linear(c0 * s0 * s0, 1))
        return G, D
    hidden, pixels = int(arch["hidden"]), SHAPE[0] * SHAPE[1] * SHAPE[2]
    G, D = nn.Sequential(), nn.Sequential(nn.Flatten())
    g_in, d_in = Z_DIM, pixels
    for _ in range(int(arch["layers"])):
        G.extend([nn.Linear(g_in, hidden), nn.ReLU(True)])
        D.extend([nn.Linear(d_in, hidden), nn.LeakyReLU(0.2, True)])
        g_in = d_in = hidden
    G.extend([nn.Linear(hidden, pixels), nn.Tanh(), nn.Unflatten(1, SHAPE)])
    D.append(nn.Linear(hidden, 1))
    return G, D


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def load_weights(dst: nn.Module, src: nn.Module) -> nn.Module:
    """Copy ``src``'s parameters and buffers into ``dst`` in registration order (the module names differ, the
    tensors must not)."""
    pairs = list(zip(dst.state_dict().values(), src.state_dict().values()))
    shapes = [(tuple(a.shape), tuple(b.shape)) for a, b in pairs]
    if len(dst.state_dict()) != len(src.state_dict()) or any(a != b for a, b in shapes):
        raise AssertionError(f"the tight loop's network does not match ganbench's: {shapes}")
    with torch.no_grad():
        for a, b in pairs:
            a.copy_(b)
    return dst


def tight_from(settings: dict, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The tight loop's networks with the weights of ganbench's ``G`` and ``D``; the parameter counts are asserted
    equal."""
    tG, tD = tight_networks(settings)
    for mine, theirs, name in ((tG, G, "G"), (tD, D, "D")):
        assert parameter_count(mine) == parameter_count(theirs), \
            f"{name}: {parameter_count(mine)} parameters in the tight loop, {parameter_count(theirs)} in ganbench"
        load_weights(mine, theirs)
    return tG, tD


class Tight:
    """The loop a careful engineer writes for speed, without ganbench: the whole dataset preloaded once as a float32
    tensor in [-1, 1] on the device, batches by random index (with replacement, as ganbench draws them), one D
    backward per D step, G forward once per iteration (the G step reuses the last D step's fake), D frozen during
    the G step, ``zero_grad(set_to_none=True)``, Adam with the same settings as ganbench's (lr, betas, and its
    fused implementation), and the losses synced to the host once per ``LOG_EVERY`` iterations, as ganbench logs.
    ``noise`` and ``indices`` are hooks for the numerics check."""

    LOG_EVERY = 25

    def __init__(self, settings: dict, netG: nn.Module, netD: nn.Module, data: torch.Tensor,
                 device: torch.device | None = None, dtype: torch.dtype = torch.float32):
        device = self.device = device if device is not None else torch.device("cpu")
        self.G, self.D = netG.to(device, dtype), netD.to(device, dtype)
        opt = settings["optimizer"]
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        self.optD = torch.optim.Adam(self.D.parameters(), lr=opt["lr_d"], betas=tuple(opt["betas"]), **fused)
        self.optG = torch.optim.Adam(self.G.parameters(), lr=opt["lr_g"], betas=tuple(opt["betas"]), **fused)
        self.wgan = settings["loss"]["name"] == "wgan-gp"
        self.gp_weight = float(settings["loss"].get("gp_weight", 10.0))
        self.d_steps = int(settings["d_steps"])
        self.data = data.to(device, dtype)
        if data.dtype == torch.uint8:
            self.data.div_(127.5).sub_(1.0)
        self.ones = torch.ones(BATCH, device=device, dtype=dtype)
        self.zeros = torch.zeros(BATCH, device=device, dtype=dtype)
        self.noise = lambda n: torch.randn(n, Z_DIM, device=device, dtype=dtype)
        self.indices = lambda: torch.randint(0, self.data.shape[0], (BATCH,), device=device)
        self.images = 0
        self.window: list[torch.Tensor] = []

    def iteration(self) -> dict[str, float] | None:
        """One iteration; every LOG_EVERY iterations the window's mean losses (the one host sync), else None."""
        losses = self._wgan_gp() if self.wgan else self._gan()
        self.window.append(torch.stack(losses))
        if len(self.window) < self.LOG_EVERY:
            return None
        loss_d, loss_g = torch.stack(self.window).mean(0).tolist()
        self.window = []
        return {"loss_d": loss_d, "loss_g": loss_g}

    def losses(self) -> dict[str, float]:
        """One iteration's own losses (synced: for the numerics check)."""
        loss_d, loss_g = (self._wgan_gp() if self.wgan else self._gan())
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def _d_update(self, loss: torch.Tensor) -> None:
        self.optD.zero_grad(set_to_none=True)
        loss.backward()
        self.optD.step()

    def _g_update(self, fake: torch.Tensor, loss_of_logits) -> torch.Tensor:
        self.D.requires_grad_(False)
        loss = loss_of_logits(self.D(fake).view(-1))
        self.optG.zero_grad(set_to_none=True)
        loss.backward()
        self.optG.step()
        self.D.requires_grad_(True)
        return loss.detach()

    def _gan(self) -> tuple[torch.Tensor, torch.Tensor]:
        real = self.data[self.indices()]
        self.images += real.shape[0]
        fake = self.G(self.noise(real.shape[0]))
        d_real, d_fake = self.D(real).view(-1), self.D(fake.detach()).view(-1)
        loss_d = (F.binary_cross_entropy_with_logits(d_real, self.ones)
                  + F.binary_cross_entropy_with_logits(d_fake, self.zeros))
        self._d_update(loss_d)
        loss_g = self._g_update(fake, lambda logits: F.binary_cross_entropy_with_logits(logits, self.ones))
        return loss_d.detach(), loss_g

    def _wgan_gp(self) -> tuple[torch.Tensor, torch.Tensor]:
        for i in range(self.d_steps):
            real = self.data[self.indices()]
            self.images += real.shape[0]
            z = self.noise(real.shape[0])
            if i == self.d_steps - 1:
                kept = self.G(z)
                fake = kept.detach()
            else:
                with torch.no_grad():
                    fake = self.G(z)
            eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=self.device, dtype=real.dtype)
            mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(mixed).sum(), mixed, create_graph=True)
            penalty = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
            loss_d = self.D(fake).mean() - self.D(real).mean() + self.gp_weight * penalty
            self._d_update(loss_d)
        loss_g = self._g_update(kept, lambda logits: -logits.mean())
        return loss_d.detach(), loss_g


# ====================================================================== FLOPs and the CPU's peak
class _WholeStepOnly:
    """Stands in for FlopCounterMode's module tracker, which only breaks the count down by module and cannot follow
    ``torch.autograd.grad`` (WGAN-GP's penalty raises "A leaf node was passed to _will_engine_execute_node ...")."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def count_flops(fn) -> int:
    """FLOPs of one call of ``fn`` (one real training step: D and G steps, forward and backward) as
    ``torch.utils.flop_counter.FlopCounterMode`` counts them: matrix products and convolutions (elementwise work,
    normalisation and the optimizer count 0). Where its module tracker cannot follow ``torch.autograd.grad``, the
    step is counted again with the tracker replaced (the totals are the same; only the per-module table is lost)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with counter:
            fn()
    except RuntimeError as exc:
        if "_will_engine_execute_node" not in str(exc):
            raise
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = _WholeStepOnly()
        with counter:
            fn()
    return counter.get_total_flops()


def _lscpu() -> dict[str, str]:
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_peak(flops_per_cycle: int | None) -> dict:
    """Peak FLOP/s per core = clock x FLOPs/cycle of the widest FMA the ISA has (an FMA is 2 FLOPs), from lscpu and
    the /proc/cpuinfo flags; for fp32 and, where the CPU has them, bf16 (AVX512-BF16 dot products, AMX tiles)."""
    info = _lscpu()
    cores = len(os.sched_getaffinity(0))
    mhz, clock_from = float(info.get("CPU max MHz") or 0.0), "lscpu 'CPU max MHz'"
    if not mhz:
        try:
            mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text()))
            clock_from = ("/proc/cpuinfo 'cpu MHz' (no max MHz given: in a VM the host's nominal clock; turbo may be "
                          "higher)")
        except (OSError, ValueError):
            mhz, clock_from = 2000.0, "assumed (no clock found)"
    try:
        flags = set(re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1).split())
    except (OSError, AttributeError):
        flags = set(info.get("Flags", "").split())
    vendor, family = info.get("Vendor ID", ""), int(info.get("CPU family", "0") or 0)
    if flops_per_cycle:
        fpc, why = flops_per_cycle, "given with --peak-flops-per-cycle"
    elif vendor == "AuthenticAMD" and "avx2" in flags and "fma" in flags:
        # Zen 2/3/4: two 256-bit FMA pipes (Zen 4 runs AVX-512 double-pumped on them); Zen 5 (family 26): 512-bit
        fpc = 64 if family >= 26 else 32
        why = f"AMD family {family}: 2 FMA pipes x {fpc // 4} fp32 lanes x 2 FLOPs"
    elif "avx512f" in flags:
        fpc, why = 64, "avx512f: 2 FMA units (assumed: server Xeons have 2) x 16 fp32 lanes x 2 FLOPs"
    elif "avx2" in flags and "fma" in flags:
        fpc, why = 32, "avx2+fma: 2 FMA units x 8 fp32 lanes x 2 FLOPs"
    else:
        fpc, why = 16, "SSE: no FMA assumed, 2 x 4 lanes x 2"
    bf16 = {}
    if "avx512_bf16" in flags:
        bf16["avx512_bf16"] = (2 * fpc, f"avx512_bf16: VDPBF16PS, 2 bf16 products per fp32 lane = 2 x the fp32 "
                                        f"rate = {2 * fpc}")
    if "amx_bf16" in flags:
        bf16["amx_bf16"] = (1024, "amx_bf16: TDPBF16PS, 16x16x32 multiply-adds (16384 FLOPs) per 16 cycles = 1024")
    hz = mhz * 1e6
    return {"model": info.get("Model name", platform.processor()), "cores": cores, "ghz": mhz / 1000,
            "clock_from": clock_from, "flops_per_cycle": fpc, "why": why, "peak": cores * hz * fpc,
            "core_peak": hz * fpc, "bf16": {k: {"flops_per_cycle": v, "why": w, "core_peak": hz * v}
                                            for k, (v, w) in bf16.items()}}


def measured_matmul(dtype: torch.dtype, n: int = 1024, seconds: float = 0.5) -> float:
    """FLOP per CPU-second of an n x n x n matrix product on one thread: a check of the derived peak (an fp32 GEMM
    above the one-FMA-unit rate shows two units)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        for _ in range(2):
            a @ b
        reps, c0 = 0, time.process_time()
        while time.process_time() - c0 < seconds:
            a @ b
            reps += 1
        return 2 * n ** 3 * reps / (time.process_time() - c0)
    finally:
        torch.set_num_threads(threads)


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


def worker_ganbench(args, amp: bool | None = None) -> dict:
    """(a) ganbench's Trainer; ``amp``: bf16 autocast (ganbench's runtime.amp), default --amp."""
    from ganbench.data import load_prepared
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import Trainer

    configure_threads(args.threads)  # the process set-up of ganbench.train.run (threads, allocator reuse)
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
                          snapshots=1, progress=False, amp=args.amp if amp is None else amp)
        trainer.fit()  # warm-up (and compilation); its one snapshot is written here, outside the timed window
        trainer.steps = args.warmup + args.steps
        elapsed0, cpu_elapsed0 = trainer.elapsed, trainer.cpu_elapsed
        sync(device)
        wait_for_start(args.start_file)
        start = time.time()
        t0, f0 = time.perf_counter(), page_faults()
        result = trainer.fit()
        sync(device)
        fit_seconds = time.perf_counter() - t0
        end = time.time()
        assert result["status"] == "ok", result
        # the training steps (and their log flushes), as the Trainer times them for train.json: fit() around them
        # also reloads the warm-up's final checkpoint and writes its own, which a run does once, not per window
        wall, cpu = trainer.elapsed - elapsed0, trainer.cpu_elapsed - cpu_elapsed0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=trainer.amp):  # as Trainer.fit runs it
            flops = count_flops(lambda: gan.train_step(trainer.next_real))
    images = args.steps * gan.batch_size * gan.batches_per_step
    return {"images_per_second": images / wall, "seconds": wall, "images": images, "fit_seconds": fit_seconds,
            "page_faults_per_step": (page_faults() - f0) / args.steps,
            "fit_images_per_second": images / fit_seconds, "start": start, "end": end, "device": describe(device),
            "cpu_seconds": cpu, "images_per_cpu_second": images / cpu,
            "iterations": args.steps, "flops_per_iteration": flops, "iterations_per_second": args.steps / wall,
            "final_loss_d": trainer.rows[-1]["loss_d"]}


def timed_loop(iteration, images, args, device: torch.device) -> dict:
    """--warmup untimed calls of ``iteration``, then --steps timed ones; ``images()``: real images seen so far."""
    for _ in range(args.warmup):
        iteration()
    images0 = images()
    sync(device)
    t0, c0, f0 = time.perf_counter(), time.process_time(), page_faults()
    for _ in range(args.steps):
        iteration()
    sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = images() - images0
    return {"images_per_second": done / wall, "seconds": wall, "iterations": args.steps, "images": done,
            "page_faults_per_step": (page_faults() - f0) / args.steps,
            "cpu_seconds": cpu, "images_per_cpu_second": done / cpu, "iterations_per_second": args.steps / wall,
            "flops_per_iteration": count_flops(iteration)}


def worker_reference(args) -> dict:
    """(b) the PyTorch-examples style loop on torchvision's per-image pipeline."""
    settings = settings_for(args.model, args.warmup + args.steps, args.dcgan_width)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the PyTorch DCGAN example sets it too
    torch.manual_seed(args.seed)
    netG, netD = (with_torch_layers(net) for net in build_networks(settings))
    dataset = torchvision_dataset(ensure_torchvision_root(Path(args.tv_root)))
    ref = Reference(settings, netG, netD, loader_batches(dataset, args.ref_workers), device)
    return timed_loop(ref.iteration, lambda: ref.images, args, device)


def worker_tight(args) -> dict:
    """(c) the tight loop on the preloaded float32 tensor, with ganbench's initial weights."""
    from ganbench.data import load_prepared

    settings = settings_for(args.model, args.warmup + args.steps, args.dcgan_width)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    netG, netD = tight_from(settings, *build_networks(settings))
    tight = Tight(settings, netG, netD, torch.from_numpy(load_prepared(args.npz).x_train), device)
    return timed_loop(tight.iteration, lambda: tight.images, args, device)


def worker_numerics(args) -> dict:
    from torch.utils.data import DataLoader, Subset

    from ganbench.data import load_prepared

    n = args.check_steps
    settings = settings_for(args.model, n, args.dcgan_width)
    d_steps = int(settings["d_steps"])
    data = load_prepared(args.npz)
    gen = torch.Generator().manual_seed(args.seed + 1)
    indices = [torch.randint(0, len(data.x_train), (BATCH,), generator=gen) for _ in range(n * d_steps)]
    # noise: one z per D step. ganbench's G step reuses the last D step's fake (GAN.d_step(keep_fake=True)), so it
    # samples no z of its own; so does the tight loop, and the non-saturating reference (as the PyTorch example
    # does). The WGAN-GP reference draws a fresh z for its G step, so it is given the last critic step's z again.
    z_d = [torch.randn(BATCH, Z_DIM, generator=gen) for _ in range(n * d_steps)]
    if settings["loss"]["name"] == "wgan-gp":
        reference_noise = [z for i in range(n)
                           for z in (*z_d[i * d_steps:(i + 1) * d_steps], z_d[(i + 1) * d_steps - 1])]
    else:
        reference_noise = list(z_d)
    # (b) is fed through torchvision's pipeline (ToTensor + Normalize) with the same indices
    dataset = torchvision_dataset(ensure_torchvision_root(Path(args.tv_root)))
    ref_batches = [b for b, _ in DataLoader(Subset(dataset, torch.cat(indices).tolist()), batch_size=BATCH)]
    inputs = {"indices": indices, "z": z_d, "reference_noise": reference_noise, "ref_batches": ref_batches}
    out: dict = {"steps": n}
    runs = {str(dtype).removeprefix("torch."): trajectories(args, settings, data, inputs, dtype)
            for dtype in (torch.float64, torch.float32)}
    out["max_abs_diff_input"] = runs["float32"].pop("input_diff")
    runs["float64"].pop("input_diff")
    exact = runs["float64"]["c"]
    for precision, rows in runs.items():
        for side, mine in rows.items():
            for key in ("loss_d", "loss_g"):
                out[f"{precision}_{key}_{side}"] = [r[key] for r in mine]
                if side != "a":
                    out[f"{precision}_max_abs_diff_{key}_{side}"] = max(
                        abs(r[key] - o[key]) for r, o in zip(rows["a"], mine))
            if precision == "float32":  # how far rounding took this side from the exact (float64) trajectory
                out[f"max_abs_diff_exact_{side}"] = max(abs(r[key] - e[key]) for r, e in zip(mine, exact)
                                                        for key in ("loss_d", "loss_g"))
    return out


def trajectories(args, settings: dict, data, inputs: dict, dtype: torch.dtype) -> dict:
    """The first steps' losses of (a), (b) and (c) in ``dtype``, from ganbench's initial (float32) weights."""
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import Trainer, to_model_space

    n = args.check_steps
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # tensors the steps create themselves
    try:
        torch.manual_seed(args.seed)
        with torch_default_dtype(torch.float32):
            gan = GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
        for net in (gan.G, *gan.Ds):  # in place: the optimizers keep their parameters
            net.to(dtype)
        rows: dict[str, list[dict[str, float]]] = {}

        ref = Reference(settings, *(with_torch_layers(copy.deepcopy(net)) for net in (gan.G, gan.D)),
                        iter([b.to(dtype) for b in inputs["ref_batches"]]))
        queue_b = iter(inputs["reference_noise"])
        ref.noise = lambda _n: next(queue_b).to(dtype)
        torch.manual_seed(12345)
        rows["b"] = [ref.iteration() for _ in range(n)]

        # (its data converted in float32 as ganbench's and torchvision's are, then cast: the same inputs for all)
        tight = Tight(settings, *tight_from(settings, copy.deepcopy(gan.G), copy.deepcopy(gan.D)),
                      to_model_space(torch.from_numpy(data.x_train)), dtype=dtype)
        queue_c, real_c = iter(inputs["z"]), iter(inputs["indices"])
        tight.noise, tight.indices = (lambda _n: next(queue_c).to(dtype)), (lambda: next(real_c))
        torch.manual_seed(12345)
        rows["c"] = [tight.losses() for _ in range(n)]
        assert next(queue_c, None) is None, "the tight loop drew a different number of z than expected"

        # (a) ganbench's Trainer, log_every=1 so every step is a row
        with tempfile.TemporaryDirectory(prefix="ganbench-numerics-") as out:
            trainer = Trainer(gan, torch.from_numpy(data.x_train), Path(out), steps=n, log_every=1,
                              checkpoint_every=10**9, snapshots=1, progress=False)
            queue_a, real_a = iter(inputs["z"]), iter(inputs["indices"])
            gan.sample_z = lambda _n: next(queue_a).to(dtype)
            # as Trainer.next_real converts
            trainer.next_real = lambda: to_model_space(trainer.data[next(real_a)]).to(dtype)
            torch.manual_seed(12345)
            trainer.fit()
            rows["a"] = trainer.rows
            assert next(queue_a, None) is None, "ganbench drew a different number of z than expected"
            rows["input_diff"] = max(float((to_model_space(trainer.data[i]) - b).abs().max())
                                     for i, b in zip(inputs["indices"], inputs["ref_batches"]))
        return rows
    finally:
        torch.set_default_dtype(previous)


class torch_default_dtype:
    """``with torch_default_dtype(dtype):`` new floating tensors get ``dtype`` inside the block."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype

    def __enter__(self):
        self.previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        torch.set_default_dtype(self.previous)
        return False


# op groups of the --profile breakdown: (group, op names or name prefixes), first match wins
OP_GROUPS = (("convolution backward", ("convolution_backward",)), ("convolution forward", ("convolution",)),
             ("matmul", ("mm", "addmm", "bmm")), ("col2im / im2col (fold, unfold)", ("col2im", "im2col")),
             ("batch norm", ("native_batch_norm", "native_batch_norm_backward")),
             ("optimizer (fused Adam)", ("_fused_adam_", "_foreach_")), ("elementwise and other ops", ("",)))


def op_group(name: str) -> str:
    for group, names in OP_GROUPS:
        if name in names or any(name.startswith(n) for n in names if n.endswith("_")) or names == ("",):
            return group
    raise AssertionError(name)


def worker_profile(args) -> dict:
    """Where one training step's CPU time goes, for (a) and (c): the thread CPU time of every aten op (a dispatch
    mode times each one; unlike torch.profiler's wall-clock spans this is not inflated by other load), grouped
    (``OP_GROUPS``), with each group's FLOPs (``torch.utils.flop_counter``'s formulas) and so the rate its kernels
    run at. The rest of the step (autograd engine, Python, the loop) is the step's CPU time minus the ops'."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    from ganbench.data import load_prepared
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import to_model_space

    class OpTimer(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ns: dict[str, int] = {}
            self.flops: dict[str, int] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            t0 = time.thread_time_ns()
            out = func(*args, **kwargs)
            dt = time.thread_time_ns() - t0
            group = op_group(func._overloadpacket.__name__)
            self.ns[group] = self.ns.get(group, 0) + dt
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.flops[group] = self.flops.get(group, 0) + int(formula(*args, **kwargs, out_val=out))
            return out

    configure_threads(args.threads)
    settings = settings_for(args.model, 10**9, args.dcgan_width)
    data = load_prepared(args.npz)
    x = torch.from_numpy(data.x_train)
    torch.manual_seed(args.seed)
    gan = GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
    tight = Tight(settings, *tight_from(settings, *build_networks(settings)), x)
    steps = {"a": lambda: gan.train_step(lambda: to_model_space(x[torch.randint(0, len(x), (BATCH,))])),
             "c": tight.iteration}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    # unprofiled and profiled blocks alternate, and so do the sides, so that drifting load hits all alike
    blocks, per_block = 4, max(1, args.steps // 4)
    cpu = dict.fromkeys(steps, 0.0)
    timers = {side: OpTimer() for side in steps}
    for b in range(blocks):
        for side in (steps if b % 2 == 0 else list(steps)[::-1]):
            c0 = time.thread_time()
            for _ in range(per_block):
                steps[side]()
            cpu[side] += time.thread_time() - c0
            with timers[side]:
                for _ in range(per_block):
                    steps[side]()
    n = blocks * per_block
    return {side: {"step_cpu_ms": cpu[side] / n * 1e3,
                   "groups_ms": {g: timers[side].ns.get(g, 0) / n / 1e6 for g, _ in OP_GROUPS},
                   "flops": {g: f // n for g, f in timers[side].flops.items()}} for side in steps}


def print_profile(model: str, prof: dict, peak: dict) -> None:
    print(f"\nWhere a {model} step's CPU time goes (--profile: the thread CPU time of every aten op, grouped; the rate "
          "of each group's counted FLOPs against the fp32 core peak):")
    for side, p in prof.items():
        step = p["step_cpu_ms"]
        ops = sum(p["groups_ms"].values())
        print(f"  ({side}) {step:.2f} CPU ms per step")
        rows = [*p["groups_ms"].items(), ("autograd engine, Python, the loop (the rest)", step - ops)]
        for group, ms in rows:
            rate = ""
            if p["flops"].get(group) and ms > 0:
                gflops = p["flops"][group] / (ms / 1e3) / 1e9
                rate = (f"  {p['flops'][group] / 1e9:.3f} GFLOP at {gflops:.0f} GFLOP/s = "
                        f"{100 * gflops * 1e9 / peak['core_peak']:.0f} % of peak")
            print(f"      {group:46s} {ms:7.2f} ms {100 * ms / step:5.1f} %{rate}")


def worker_tight_reusing(args) -> dict:
    """(c) with ganbench's allocator setting (``reuse_freed_memory``) and nothing else of ganbench."""
    from ganbench.device import reuse_freed_memory

    reuse_freed_memory()
    return worker_tight(args)


WORKERS = {"a": worker_ganbench, "a-bf16": lambda args: worker_ganbench(args, amp=True), "b": worker_reference,
           "c": worker_tight, "c+reuse": worker_tight_reusing, "numerics": worker_numerics,
           "profile": worker_profile}


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
    p.add_argument("--rounds", type=int, default=3, help="alternations of the sides (>= 3; 0: no timing, only the "
                                                          "numerics check and --profile)")
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
    p.add_argument("--bf16", action="store_true", help="also time ganbench with bf16 autocast as its own row")
    p.add_argument("--profile", action="store_true", help="also break one step of (a) and (c) down by op group "
                                                          "(thread CPU time per op), with each group's FLOP rate")
    p.add_argument("--tight-reuse", action="store_true", help="also time the tight loop with ganbench's allocator "
                                                              "setting (how much of a/c that setting is)")
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
    gpu = torch.device(args.device).type == "cuda"
    peak = cpu_peak(args.peak_flops_per_cycle)
    threads_peak = peak["core_peak"] * min(args.threads, peak["cores"])
    sides = ["a", "b", "c"] + (["a-bf16"] if args.bf16 else []) + (["c+reuse"] if args.tight_reuse else [])
    print(f"torch {torch.__version__}, {args.threads} thread(s) per process, device {args.device}"
          + (f" ({torch.cuda.get_device_name(torch.device(args.device))})" if gpu else "")
          + f", ganbench side: amp {args.amp}, compile {args.compile}")
    print_peak(peak, args.threads)
    for side in sides:
        print(f"  ({side}) {SIDES[side]}")
    print(flush=True)

    results: dict = {"cpu": peak, "threads": args.threads, "ref_workers": args.ref_workers, "git": git_state(),
                     "device": args.device, "amp": args.amp, "compile": args.compile, "sides": sides,
                     "load_before": os.getloadavg(), "models": {}}
    for model in args.models:
        steps = args.steps or MODELS[model]["steps"]
        per: dict[str, list[dict]] = {k: [] for k in sides}
        for r in range(args.rounds):
            for kind in (sides if r % 2 == 0 else sides[::-1]):
                res = run_worker(kind, model, args, steps)
                per[kind].append(res)
                print(f"  {model:8s} round {r + 1} {kind:6s}: {res['images_per_second']:7.0f} images/s wall, "
                      f"{res['images_per_cpu_second']:7.0f} images/CPU-s ({res['seconds']:.1f} s, peak RSS "
                      f"{res['peak_rss_mib']['self']:.0f} MiB, load {os.getloadavg()[0]:.1f})", flush=True)
        results["models"][model] = summarise(per, steps, args.warmup) if args.rounds else {}
        if args.check_steps:
            results["models"][model]["numerics"] = run_worker("numerics", model, args, steps)
        if args.profile:
            results["models"][model]["profile"] = run_worker("profile", model, args, steps)
    results["load_after"] = os.getloadavg()
    report(results, args, peak, threads_peak, gpu)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


SIDES = {
    "a": "ganbench: Trainer.fit on the uint8 dataset tensor (random index batches, converted per batch), "
         "log_every 25 (its host sync included), checkpoints off",
    "b": "examples-style: torchvision FashionMNIST from the IDX files, per-image ToTensor + Normalize, "
         "DataLoader(batch 64, shuffle, num_workers --ref-workers), two D backwards, .item() every step",
    "c": "tight: the dataset preloaded once as a float32 tensor on the device, random index batches, plain torch.nn "
         "networks (parameter counts asserted equal), fused Adam, one D backward, D frozen in the G step",
    "a-bf16": "ganbench with bf16 autocast (runtime.amp): its own row; quality: benchmarks/bf16_quality.py",
    "c+reuse": "the tight loop (c) in a process with ganbench's allocator setting (ganbench.device.reuse_freed_memory)",
}


def summarise(per: dict[str, list[dict]], steps: int, warmup: int) -> dict:
    """Medians over the rounds, and each side's ratio to (b) and (c) per round (a round's runs are adjacent)."""
    summary: dict = {"steps": steps, "warmup": warmup}
    for metric in ("images_per_second", "images_per_cpu_second"):
        vals = {k: [x[metric] for x in v] for k, v in per.items()}
        summary[metric] = {k: statistics.median(v) for k, v in vals.items()}
        summary[metric + "_rounds"] = vals
        for side in per:
            for ref in ("b", "c"):
                if side in ("b", "c"):
                    continue
                ratios = [a / b for a, b in zip(vals[side], vals[ref])]
                summary.setdefault(metric + "_ratio_rounds", {})[f"{side}/{ref}"] = ratios
                summary.setdefault(metric + "_ratio", {})[f"{side}/{ref}"] = statistics.median(ratios)
    summary["peak_rss_mib"] = {k: max(x["peak_rss_mib"]["self"] for x in v) for k, v in per.items()}
    summary["page_faults_per_step"] = {k: statistics.median(x["page_faults_per_step"] for x in v)
                                       for k, v in per.items()}
    summary["flops_per_iteration"] = {k: v[0]["flops_per_iteration"] for k, v in per.items()}
    summary["gflops_per_second"] = {  # FLOPs per iteration x iterations per second (wall), and per CPU-second
        k: statistics.median(x["flops_per_iteration"] * x["iterations"] / x["seconds"] for x in v) / 1e9
        for k, v in per.items()}
    summary["gflops_per_cpu_second"] = {
        k: statistics.median(x["flops_per_iteration"] * x["iterations"] / x["cpu_seconds"] for x in v) / 1e9
        for k, v in per.items()}
    return summary


def print_peak(peak: dict, threads: int) -> None:
    """How the peak was derived, and a measured matrix product as a check of it."""
    core = peak["core_peak"] / 1e9
    print(f"CPU: {peak['model']}, {peak['cores']} cores, {peak['ghz']:.2f} GHz ({peak['clock_from']})")
    print(f"  fp32 peak: {peak['flops_per_cycle']} FLOPs/cycle/core ({peak['why']}) x {peak['ghz']:.2f} GHz = "
          f"{core:.1f} GFLOP/s per core, {peak['peak'] / 1e9:.1f} for the CPU, {core * min(threads, peak['cores']):.1f}"
          f" for {threads} thread(s)")
    gemm = measured_matmul(torch.float32)
    print(f"  check: 1024^3 fp32 matmul, 1 thread: {gemm / 1e9:.1f} GFLOP per CPU-second = "
          f"{100 * gemm / peak['core_peak']:.0f} % of the fp32 core peak")
    peak["measured_fp32_matmul"] = gemm
    for b in peak["bf16"].values():
        print(f"  bf16 peak ({b['why']}): {b['core_peak'] / 1e9:.1f} GFLOP/s per core")
    if peak["bf16"]:
        gemm16 = measured_matmul(torch.bfloat16)
        best = max(b["core_peak"] for b in peak["bf16"].values())
        print(f"  check: 1024^3 bf16 matmul, 1 thread: {gemm16 / 1e9:.1f} GFLOP per CPU-second = "
              f"{100 * gemm16 / best:.0f} % of the highest bf16 core peak")
        peak["measured_bf16_matmul"] = gemm16


def report(results: dict, args, peak: dict, threads_peak: float, gpu: bool) -> None:
    if args.rounds:
        report_timing(results, args, peak, threads_peak, gpu)
    if args.check_steps:
        print_numerics(results, args.check_steps)
    for model, s in results["models"].items():
        if "profile" in s:
            print_profile(model, {k: v for k, v in s["profile"].items() if k in ("a", "c")}, peak)


def report_timing(results: dict, args, peak: dict, threads_peak: float, gpu: bool) -> None:
    sides = results["sides"]
    print("\n" + "=" * 118)
    print(f"git {results['git']}; load average before {results['load_before'][0]:.1f}, after "
          f"{results['load_after'][0]:.1f} ({peak['cores']} cores): wall-clock numbers are only as good as the machine "
          "is idle; images per CPU-second (process CPU time) are robust to time-slicing.")
    print("Ratios: median over the rounds of (images/s of a side) / (images/s of the reference in the same round); "
          "b = examples-style, c = tight loop")
    head = (f"{'model':8s} {'side':7s}| {'img/s':>7s} {'vs b':>6s} {'vs c':>6s} {'(rounds vs c)':>18s} | "
            f"{'img/CPU-s':>9s} {'vs b':>6s} {'vs c':>6s} {'(rounds vs c)':>18s} | {'peak RSS':>8s} | faults/step")
    print(head)
    for model, s in results["models"].items():
        w, c = s["images_per_second"], s["images_per_cpu_second"]
        for side in sides:
            cells = []
            for metric, vals in (("images_per_second", w), ("images_per_cpu_second", c)):
                ratio, rounds = s[metric + "_ratio"], s[metric + "_ratio_rounds"]
                if side in ("b", "c"):
                    cells.append(f"{vals[side]:9.0f} {'':>6s} {'':>6s} {'':>18s}")
                else:
                    cells.append(f"{vals[side]:9.0f} {ratio[side + '/b']:5.2f}x {ratio[side + '/c']:5.2f}x "
                                 f"{' '.join(f'{x:.2f}' for x in rounds[side + '/c']):>18s}")
            print(f"{model:8s} {side:7s}| {cells[0][2:]} | {cells[1]} | {s['peak_rss_mib'][side]:5.0f} MiB | "
                  f"{s['page_faults_per_step'][side]:6.0f}")

    if gpu:
        print("\nFLOPs per iteration (FlopCounterMode) and FLOP/s on the GPU:")
        for model, s in results["models"].items():
            f, g = s["flops_per_iteration"], s["gflops_per_second"]
            print(f"  {model:8s} " + " | ".join(f"{k}: {f[k] / 1e9:.3f} GFLOP/it, {g[k]:.1f} GFLOP/s" for k in sides))
    else:
        bf16_peaks = {k: v["core_peak"] for k, v in peak["bf16"].items()}
        print(f"\nUtilization: FLOPs of one training step (D and G steps, forward and backward; FlopCounterMode: "
              f"matmuls and convolutions) x steps / time, against the peak of the cores used: fp32 "
              f"{peak['core_peak'] / 1e9:.1f} GFLOP/s per core"
              + "".join(f", bf16 {k} {v / 1e9:.0f}" for k, v in bf16_peaks.items()) + ". Per CPU-second: "
              "busy time, robust to other load; wall: includes waiting for a core.")
        for model, s in results["models"].items():
            f, g, gc = s["flops_per_iteration"], s["gflops_per_second"], s["gflops_per_cpu_second"]
            for side in sides:
                line = (f"  {model:8s} {side:6s} {f[side] / 1e9:6.3f} GFLOP/step, {gc[side]:6.1f} GFLOP per CPU-s = "
                        f"{100 * gc[side] * 1e9 / peak['core_peak']:5.1f} % of fp32 peak")
                if side.endswith("bf16"):
                    line += "".join(f", {100 * gc[side] * 1e9 / v:4.1f} % of {k}" for k, v in bf16_peaks.items())
                line += (f"; wall {g[side]:6.1f} GFLOP/s = {100 * g[side] * 1e9 / threads_peak:5.1f} % of "
                         f"{args.threads} thread(s)' fp32 peak")
                print(line)

    targets = {"dcgan": {"a/b": 3.0}} if gpu else {"dcgan": {"a/b": 1.1, "a/c": 1.3}, "mlp": {"a/b": 2.0, "a/c": 1.3}}
    print("\nTargets (issues): " + ("on a GPU, DCGAN a/b >= 3" if gpu else
                                   "fp32 against the tight loop (c): DCGAN and MLP >= 1.3; against the examples-style "
                                   "loop (b): MLP >= 2.0, DCGAN >= 1.1"))
    for model, wants in targets.items():
        if model not in results["models"]:
            continue
        s = results["models"][model]
        for pair, want in wants.items():
            for metric, label in (("images_per_second_ratio", "wall"), ("images_per_cpu_second_ratio", "CPU")):
                got = s[metric][pair]
                print(f"  {model:8s} {pair} {label:4s} = {got:.2f} vs target {want:.1f}: "
                      f"{'PASS' if got >= want else 'FAIL'}")


def print_numerics(results: dict, steps: int) -> None:
    print(f"\nNumerics: the first {steps} steps' losses (loss_d, loss_g) of (a) against (b) and (c), from the same "
          "initial weights, real batches, noise and RNG state:")
    for precision, tol, why in (
            ("float64", NUMERICS_TOL_F64, "the same computation: rounding at 1e-16 stays far below this"),
            ("float32", NUMERICS_TOL, "as they train: float32 rounding, amplified by the training dynamics, moves "
                                      "DCGAN's losses by ~1e-3 within 20 steps ('vs exact')")):
        print(f"  {precision} (tolerance {tol:g}: {why})")
        for model, s in results["models"].items():
            n = s["numerics"]
            diffs = {side: max(n[f"{precision}_max_abs_diff_{key}_{side}"] for key in ("loss_d", "loss_g"))
                     for side in ("b", "c")}
            line = f"    {model:8s} max |a - b| {diffs['b']:.1e}, max |a - c| {diffs['c']:.1e}"
            if precision == "float32" and not MODELS[model]["loss"].startswith("wgan"):  # (its penalty draws
                # random numbers in the step's dtype, so float64 has other draws: no exact trajectory to compare)
                line += "; vs exact (the float64 tight loop): " + ", ".join(
                    f"{side} {n[f'max_abs_diff_exact_{side}']:.1e}" for side in "abc")
            print(line + f": {'PASS' if max(diffs.values()) <= tol else 'FAIL'}")

if __name__ == "__main__":
    main()
