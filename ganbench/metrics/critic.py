"""Wasserstein estimate of WGAN / WGAN-GP runs: the trained critic's E[D(x)] − E[D(G(z))] on held-out data.

For a critic that is (close to) 1-Lipschitz this gap is a lower bound of the Wasserstein-1 distance between the
data and the generator (Arjovsky et al. 2017, Sec. 3), and the WGAN papers plot it as a loss that tracks sample
quality. It is reported for every run whose loss is a Wasserstein critic (``LOSSES[name].wasserstein``).

Which number is honest: the ``critic_gap`` column of ``log.csv`` is the same difference averaged over the last
log window's *training* batches, measured while the critic was still being updated on them (and after tricks
such as instance noise touched the inputs), so it is an in-sample figure. Here the critic and generator of the
newest checkpoint (the trainer writes one at the final step; its step is reported as ``wasserstein_step``) are
evaluated on ``num_samples`` images of the test split, which the critic never trained on, against the same number
of fresh generated samples, in eval mode, in batches of the training batch size (critics with minibatch
features or packing see batches like the ones they were trained on). The critic is paired with the raw generator
it was trained against (not an EMA copy). With several critics (``multi_d``) the gap is their mean, the quantity
G was trained on. The in-sample value is reported beside it as ``critic_gap_train``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.data import Prepared
from ganbench.losses import LOSSES
from ganbench.metrics.registry import Score, metric


def is_wasserstein(settings: dict[str, Any]) -> bool:
    """Whether the run trained an adversarial model against a Wasserstein critic (a VAE or autoencoder has no
    critic, whatever its ``loss`` setting says)."""
    from ganbench.models import ARCHITECTURES
    from ganbench.train.models import TRAINING_MODELS

    family = ARCHITECTURES.get(settings["architecture"]["name"], key="architecture.name")
    if not TRAINING_MODELS.get(family.training_model).adversarial:
        return False
    return bool(LOSSES.get(settings["loss"]["name"], key="loss.name").wasserstein)


def last_logged(run_dir: Path, column: str = "critic_gap") -> float:
    """The last value of ``column`` in the run's log.csv (NaN without one)."""
    path = run_dir / "log.csv"
    if not path.is_file():
        return math.nan
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1][column]) if rows and rows[-1].get(column) not in (None, "") else math.nan


@metric("critic", kinds=("image", "points"), needs=("heldout", "checkpoint"), when=is_wasserstein, position=80,
        scores=(Score("wasserstein", "Wasserstein estimate", "lower", "{:.3f}",
                      lambda o: f"final critic's E[D(x)] − E[D(G(z))] on up to {o['num_samples']:,} held-out images "
                                "(WGAN, WGAN-GP runs only; comparable between runs of one loss and architecture)"),),
        records=("wasserstein_step", "critic_gap_train", "wasserstein_note", "wasserstein_samples"))
def critic(ctx: Any) -> dict[str, Any]:
    return critic_estimate(ctx.run_dir, ctx.data, ctx.settings, ctx.options, ctx.device)


@torch.no_grad()
def critic_estimate(run_dir: Path, data: Prepared, settings: dict[str, Any], options: dict[str, Any],
                    device: torch.device) -> dict[str, Any]:
    """{"wasserstein", "wasserstein_step", "critic_gap_train"} (see the module text); NaN without a checkpoint."""
    from ganbench.train.checkpoint import load_file
    from ganbench.train.run import build_gan
    from ganbench.train.trainer import to_model_space

    out: dict[str, Any] = {"wasserstein": math.nan, "wasserstein_step": None,
                           "critic_gap_train": last_logged(run_dir)}
    checkpoints = sorted((run_dir / "ckpt").glob("step*.pt"))
    if not checkpoints:
        out["wasserstein_note"] = f"no checkpoint under {run_dir / 'ckpt'}: the critic's weights are not saved"
        return out
    batch = int(settings["batch_size"])
    x_heldout, y_heldout = data.heldout(options["real_split"])  # the test split; a search's phase 1: validation
    n = min(int(options["num_samples"]), len(x_heldout)) // batch * batch
    if n == 0:
        out["wasserstein_note"] = f"the test split has fewer than one batch ({batch}) of samples"
        return out
    state = load_file(checkpoints[-1])
    gan = build_gan(settings, data, device)
    gan.load_state_dict(state["gan"])
    idx = np.sort(np.random.default_rng(int(options["seed"])).permutation(len(x_heldout))[:n])
    real = torch.from_numpy(x_heldout[idx])
    real_labels = torch.from_numpy(y_heldout[idx])
    gen = torch.Generator().manual_seed(int(options["seed"]))
    gan.G.eval()
    for D in gan.Ds:
        D.eval()
    gaps = torch.zeros(len(gan.Ds), dtype=torch.float64)
    for start in range(0, n, batch):
        x = gan.real_batch(to_model_space(real[start:start + batch]).to(device),
                           real_labels[start:start + batch].to(device))
        z = torch.randn(batch, gan.z_dim, generator=gen).to(device)
        labels = (torch.randint(0, gan.conditioning.k, (batch,), generator=gen).to(device)
                  if gan.conditioning.active else None)
        code = gan.conditioning.code(z, labels)
        fake = gan.generate(code)
        for i, D in enumerate(gan.Ds):
            gaps[i] += float(D(x).double().sum() - D(fake).double().sum())
    out.update({"wasserstein": float(gaps.mean()) / n, "wasserstein_step": int(state["gan"]["step"]),
                "wasserstein_samples": n})
    return out
