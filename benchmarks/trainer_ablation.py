#!/usr/bin/env python
"""What each of the training step's speed changes buys, measured by switching it off in ganbench's own step.

ganbench's ``GAN.train_step`` has three changes over the step it had before: fused Adam (``fused=True`` instead of
``foreach=True``), one G forward per iteration (the last D step's fake is kept with its graph and the G step reuses
it, as the PyTorch DCGAN example does; before, the G step ran G forward again on fresh noise:
``GAN.reuse_fake_in_g_step``), and D's parameters frozen during the G step (no D weight gradients that are thrown
away: ``GAN.freeze_critics_in_g_step``). The Trainer also keeps the data as uint8 and converts each batch, instead
of gathering from a float32 copy of the dataset.

Every variant below is ``GAN.train_step`` itself, on a GAN whose switches are set (a subclass) and whose optimizers
are foreach Adam where fused Adam is switched off; nothing of the step is re-implemented here. For each model (the
same three as train_throughput.py) one GAN per variant is built from the same seed and timed in the same process,
interleaved round-robin (so drifting machine load hits every variant alike):

  ganbench            the step as it is
  old (none)          none of the three changes: the step as it was
  old +fused-adam     the old step with one change each
  old +reuse-fake
  old +freeze-d
  all +cat-real-fake  a further candidate, not in ganbench: one D forward on torch.cat([real, fake]) instead of
                      two (``GAN.critic_logits`` overridden; bigger GEMMs); only for a D without BatchNorm, where it
                      is the same function (skipped for DCGAN)

plus the Trainer's per-step extras: ``next_real`` (the current uint8 gather + conversion) against the old gather
from a float32 copy of the data, and one ``_flush`` (log_every = 25 steps).

Times are process CPU time per iteration (one thread), median over --rounds; wall-clock is printed too. Changes
are reported relative to the old step.

Run:  .venv/bin/python benchmarks/trainer_ablation.py [--models mlp dcgan wgan-gp] [--steps N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import ganbench  # noqa: F401  (before torchvision: the compat shim)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ganbench.train.gan import GAN  # noqa: E402
from train_throughput import DEFAULT_NPZ, MODELS, ensure_npz, settings_for  # noqa: E402

VARIANTS = {  # name: (fused adam, reuse fake, freeze D in the G step, one D pass on cat(real, fake))
    "ganbench": (True, True, True, False),
    "old (none)": (False, False, False, False),
    "old +fused-adam": (True, False, False, False),
    "old +reuse-fake": (False, True, False, False),
    "old +freeze-d": (False, False, True, False),
    "all +cat-real-fake": (True, True, True, True),  # only where D has no BatchNorm (else not the same function)
}
BASE = "old (none)"


class OneCriticPass(GAN):
    """D's logits on real and fake from one forward pass over both batches (a candidate, not ganbench's step)."""

    def critic_logits(self, D, real, fake):
        return D(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])


def ablated_gan(settings, data, fused: bool, reuse: bool, freeze: bool, cat: bool = False) -> GAN:
    """A GAN whose ``train_step`` has the chosen changes (ganbench's own step with its switches set)."""
    cls = OneCriticPass if cat else GAN
    if (reuse, freeze) != (cls.reuse_fake_in_g_step, cls.freeze_critics_in_g_step):
        cls = type("Ablated", (cls,), {"reuse_fake_in_g_step": reuse, "freeze_critics_in_g_step": freeze})
    gan = cls(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
    if not fused:  # the old step's optimizers: foreach Adam with the same settings
        betas = tuple(settings["optimizer"]["betas"])
        gan.opt_g = torch.optim.Adam(gan.G.parameters(), lr=gan.lr_g, betas=betas, foreach=True)
        gan.opt_ds = [torch.optim.Adam(D.parameters(), lr=gan.lr_d, betas=betas, foreach=True) for D in gan.Ds]
    return gan


def timed(fn, n: int) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - c0) / n, (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["mlp", "dcgan", "wgan-gp"], choices=list(MODELS))
    p.add_argument("--steps", type=int, default=None, help="iterations per block (default: 120 mlp, 25 others)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--npz", default=DEFAULT_NPZ)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ensure_npz(Path(args.npz))

    from ganbench.data import load_prepared
    from ganbench.train.trainer import Trainer, to_model_space

    data = load_prepared(args.npz)
    x = torch.from_numpy(data.x_train)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); CPU ms per iteration (median of "
          f"{args.rounds} interleaved blocks), wall ms in brackets; changes relative to the old step")
    for model in args.models:
        steps = args.steps or (120 if model == "mlp" else 25)
        settings = settings_for(model, 10**9)
        gans, fns = {}, {}
        trainer = None
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                     for m in GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu")).D.modules())
        for name, switches in VARIANTS.items():
            if switches[3] and has_bn:
                continue
            torch.manual_seed(0)
            gan = ablated_gan(settings, data, *switches)
            if trainer is None:
                trainer = Trainer(gan, x, Path(tempfile.mkdtemp()), steps=10**9, log_every=25,
                                  checkpoint_every=10**9, progress=False)
            gans[name] = gan
            fns[name] = lambda g=gan, t=trainer: g.train_step(t.next_real)
        assert trainer.data.dtype == torch.uint8 and gans["ganbench"].opt_g.defaults.get("fused"), \
            "ganbench's Trainer/optimizer are not what this script assumes (uint8 data, fused Adam)"
        fns["next_real (uint8 data, now)"] = trainer.next_real
        x_f32 = to_model_space(x)  # the old Trainer's float32 copy of the whole dataset

        def next_real_float32(x_f32=x_f32):
            return x_f32[torch.randint(0, x_f32.shape[0], (64,))]

        fns["next_real (float32 data, old)"] = next_real_float32
        pending = [gans["ganbench"].train_step(trainer.next_real) for _ in range(25)]
        fns["_flush (once per 25 steps)"] = lambda t=trainer, p=pending: t._flush(p, 0)
        for fn in fns.values():  # warm-up
            for _ in range(5):
                fn()
        cpu: dict[str, list[float]] = {k: [] for k in fns}
        wall: dict[str, list[float]] = {k: [] for k in fns}
        for r in range(args.rounds):
            names = list(fns) if r % 2 == 0 else list(fns)[::-1]
            for name in names:
                n = steps if not name.startswith(("next_real", "_flush")) else 200
                c, w = timed(fns[name], n)
                cpu[name].append(c)
                wall[name].append(w)
        base, now = statistics.median(cpu[BASE]), statistics.median(cpu["ganbench"])
        print(f"\n{model} ({steps} iterations per block)")
        for name in fns:
            c, w = statistics.median(cpu[name]), statistics.median(wall[name])
            if name.startswith("_flush"):
                rel = f"per call; {100 * c / 25 / now:.2f}% of ganbench's step amortized over log_every = 25"
            elif name.startswith("next"):
                rel = f"{100 * c / now:.2f}% of ganbench's step"
            else:
                rel = f"{100 * (c / base - 1):+6.1f}% vs the old step"
            print(f"  {name:30s} {1e3 * c:8.3f} ms CPU  [{1e3 * w:8.3f} ms wall]  {rel}")


if __name__ == "__main__":
    main()
