#!/usr/bin/env python
"""What each of the training step's speed changes buys, measured against the old step re-implemented here.

ganbench's ``GAN.train_step`` now has three changes over the step it had before: fused Adam (``fused=True``
instead of ``foreach=True``), one G forward per iteration (the last D step's fake is kept with its graph and the G
step reuses it, as the PyTorch DCGAN example does; before, the G step ran G forward again on fresh noise), and D's
parameters frozen during the G step (no D weight gradients that are thrown away). The Trainer also keeps the data as
uint8 and converts each batch, instead of gathering from a float32 copy of the dataset.

The old behaviour is not in ganbench any more, so this script re-implements the step (``make_step``) with each
change switchable, and times, for each model (the same three as train_throughput.py), one GAN per variant built
from the same seed, in the same process and interleaved round-robin (so drifting machine load hits every variant
alike):

  ganbench            ``GAN.train_step(trainer.next_real)``: the current code
  copy (all three)    the re-implementation with all three changes; must match ganbench in time and (checked
                      first, on a few steps with the same seed) in losses, which shows the copy is faithful
  old (none)          the re-implementation with none of them: the step as it was
  old +fused-adam     the old step with one change each
  old +reuse-fake
  old +freeze-d
  all +cat-real-fake  a further candidate, not in ganbench: one D forward on torch.cat([real, fake]) instead of
                      two (bigger GEMMs); only for a D without BatchNorm, where it is the same function (skipped
                      for DCGAN)

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

import ganbench  # noqa: F401  (first: torchvision compat shim)
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import DEFAULT_NPZ, MODELS, ensure_npz, settings_for  # noqa: E402

VARIANTS = {  # name: (fused adam, reuse fake, freeze D in the G step, one D pass on cat(real, fake))
    "copy (all three)": (True, True, True, False),
    "old (none)": (False, False, False, False),
    "old +fused-adam": (True, False, False, False),
    "old +reuse-fake": (False, True, False, False),
    "old +freeze-d": (False, False, True, False),
    "all +cat-real-fake": (True, True, True, True),  # only where D has no BatchNorm (else not the same function)
}
BASE = "old (none)"


def adam(params, lr: float, settings, fused: bool) -> torch.optim.Optimizer:
    impl = {"fused": True} if fused else {"foreach": True}  # the old step used foreach
    return torch.optim.Adam(list(params), lr=lr, betas=tuple(settings["optimizer"]["betas"]), **impl)


def make_step(gan, fused: bool, reuse: bool, freeze: bool, cat: bool = False):
    """A training step with the same semantics as GAN.train_step (one D, no tricks), with the chosen changes."""
    G, D, loss = gan.G, gan.D, gan.loss
    opt = gan.settings["optimizer"]
    opt_g = adam(G.parameters(), opt["lr_g"], gan.settings, fused)
    opt_d = adam(D.parameters(), opt["lr_d"], gan.settings, fused)

    def step(next_real):
        G.train()
        D.train()
        fake_for_g = None
        for i in range(gan.d_steps):
            real = next_real()
            if reuse and i == gan.d_steps - 1:
                fake_for_g = G(gan.sample_z(real.shape[0]))
                fake = fake_for_g.detach()
            else:
                with torch.no_grad():
                    fake = G(gan.sample_z(real.shape[0]))
            if cat:
                real_logits, fake_logits = D(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])
            else:
                real_logits, fake_logits = D(real), D(fake)
            total = loss.d_loss(real_logits, fake_logits)
            penalty = loss.penalty(D, real, fake)
            if penalty is not None:
                total = total + penalty
            opt_d.zero_grad(set_to_none=True)
            total.backward()
            opt_d.step()
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            stats = {"loss_d": total.detach(), "d_real": torch.sigmoid(real_logits).mean(),
                     "d_fake": torch.sigmoid(fake_logits).mean(),
                     "critic_gap": real_logits.mean() - fake_logits.mean(),
                     "penalty": penalty.detach() if penalty is not None else torch.zeros(())}
        if fake_for_g is None:
            fake_for_g = G(gan.sample_z(gan.batch_size))
        if freeze:
            D.requires_grad_(False)
        loss_g = loss.g_loss(D(fake_for_g))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if freeze:
            D.requires_grad_(True)
        stats["loss_g"] = loss_g.detach()
        gan.step += 1
        return stats

    return step


def check_copy(settings, data, x, steps: int = 5) -> float:
    """Max |loss difference| between GAN.train_step and make_step(all three) over ``steps`` steps from the same
    weights, the same real batches and the same global RNG stream (noise and WGAN-GP's interpolation weights)."""
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import to_model_space

    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, x.shape[0], (steps * int(settings["d_steps"]), 64), generator=gen)
    out = []
    for which in ("ganbench", "copy"):
        torch.manual_seed(0)
        gan = GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
        fn = gan.train_step if which == "ganbench" else make_step(gan, True, True, True)
        batches = iter(idx)
        torch.manual_seed(123)
        rows = [fn(lambda: to_model_space(x[next(batches)])) for _ in range(steps)]
        out.append([(float(r["loss_d"]), float(r["loss_g"])) for r in rows])
    return max(abs(a - b) for ra, rb in zip(*out) for a, b in zip(ra, rb))


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
    from ganbench.train.gan import GAN
    from ganbench.train.trainer import Trainer, to_model_space

    data = load_prepared(args.npz)
    x = torch.from_numpy(data.x_train)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); CPU ms per iteration (median of "
          f"{args.rounds} interleaved blocks), wall ms in brackets; changes relative to the old step")
    for model in args.models:
        steps = args.steps or (120 if model == "mlp" else 25)
        settings = settings_for(model, 10**9)
        copy_diff = check_copy(settings, data, x)
        gans, fns = {}, {}
        trainer = None
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                     for m in GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu")).D.modules())
        for name in ["ganbench", *VARIANTS]:
            if VARIANTS.get(name, (0, 0, 0, 0))[3] and has_bn:
                continue
            torch.manual_seed(0)
            gan = GAN(settings, data.shape, data.kind, data.num_classes, torch.device("cpu"))
            if trainer is None:
                trainer = Trainer(gan, x, Path(tempfile.mkdtemp()), steps=10**9, log_every=25,
                                  checkpoint_every=10**9, progress=False)
            gans[name] = gan
            if name == "ganbench":
                fns[name] = lambda g=gan: g.train_step(trainer.next_real)
            else:
                step = make_step(gan, *VARIANTS[name])
                fns[name] = lambda s=step: s(trainer.next_real)
        assert trainer.data.dtype == torch.uint8 and gans["ganbench"].opt_g.defaults.get("fused"), \
            "ganbench's Trainer/optimizer are not what this script assumes (uint8 data, fused Adam)"
        fns["next_real (uint8 data, now)"] = trainer.next_real
        x_f32 = to_model_space(x)  # the old Trainer's float32 copy of the whole dataset

        def next_real_float32():
            return x_f32[torch.randint(0, x_f32.shape[0], (64,))]

        fns["next_real (float32 data, old)"] = next_real_float32
        pending = [gans["ganbench"].train_step(trainer.next_real) for _ in range(25)]
        fns["_flush (once per 25 steps)"] = lambda: trainer._flush(pending, 0)
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
        print(f"\n{model} ({steps} iterations per block; copy vs ganbench, 5 steps: max |loss diff| "
              f"{copy_diff:.1e})")
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
