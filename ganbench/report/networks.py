"""Pictures the report computes from trained networks: latent interpolations, the discriminator's first-layer
filters, and the nearest training images of generated samples.

All three are cheap on a CPU (one generator forward pass of a few dozen latents, one state dict read, one
chunked distance computation) and use only files the pipeline already writes for each run:

- ``generator.pt`` + ``train.json`` (through ``ganbench.metrics.evaluate.load_generator``),
- the newest ``ckpt/step*.pt`` (the whole training state, of which only the discriminator's weights are read),
- ``results/data/<dataset>.npz`` (the prepared training images).

Each function writes one PNG grid and returns a small record for the template; they apply to image datasets
only (for 2-D mixtures the samples plot already shows the whole distribution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench.data import Prepared
from ganbench.plots import save_image_grid

INTERP_SEED = 4321  # fixed latents: every variant's strips interpolate between the same endpoints
GRID_SAMPLES = 64  # latents behind samples.png (ganbench.train.run.save_samples)
MAX_FILTERS = 64  # first-layer units shown
MIN_FILTER_PIXELS = 24  # small conv kernels (4×4) are enlarged by pixel repetition to at least this size


@dataclass
class Picture:
    """One generated PNG and what the template says about it."""

    path: Path
    note: str


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (N×Z) at fractions ``t`` (T,): N×T×Z.

    Under a Gaussian prior linear midpoints have a smaller norm than any typical latent (White 2016); slerp keeps
    the path on the shell where the generator was trained. Falls back to linear interpolation for (anti)parallel
    endpoints."""
    a_n = a / a.norm(dim=1, keepdim=True)
    b_n = b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(1).clamp(-1.0, 1.0))[:, None, None]  # N×1×1
    t = t[None, :, None]  # 1×T×1
    so = torch.sin(omega)
    linear = (1 - t) * a[:, None] + t * b[:, None]
    spherical = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / so.clamp_min(1e-6)
    return torch.where(so.abs() < 1e-6, linear, spherical)


@torch.no_grad()
def interpolation_strips(net: torch.nn.Module, z_dim: int, path: Path, rows: int = 4, steps: int = 10) -> Picture:
    """``rows`` strips of ``steps`` images each, G(slerp(z0, z1, t)) for t from 0 to 1, from fixed latents.

    A conditional generator (``LabelledSampler``) keeps one label along each strip: one strip per label (the first
    ten), every strip between the same two latents, so a strip is an interpolation within a class and the rows
    show the same path in z under each label."""
    z, labels = interpolation_inputs(net, z_dim, rows, steps)
    device = next(net.parameters()).device
    if labels is None:
        images = net(z.to(device)).float().cpu()
        note = f"{rows} strips, spherical interpolation in z over {steps} steps (fixed endpoints)"
    else:
        images = net(z.to(device), labels.to(device)).float().cpu()
        note = (f"one strip per label (0–{len(labels) // steps - 1}, one label along each strip), spherical "
                f"interpolation in z over {steps} steps between the same two fixed latents in every strip")
    save_image_grid(images, path, nrow=steps)
    return Picture(path, note)


def interpolation_inputs(net: torch.nn.Module, z_dim: int, rows: int = 4, steps: int = 10
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents of ``interpolation_strips`` (strip after strip, ``steps`` each) and, for a conditional
    generator, the label of each: constant along a strip, one strip per label (the first ten)."""
    from ganbench.train.conditioning import LabelledSampler

    gen = torch.Generator().manual_seed(INTERP_SEED)
    t = torch.linspace(0.0, 1.0, steps)
    if isinstance(net, LabelledSampler):
        k = min(net.conditioning.k, 10)
        ends = torch.randn(2, 1, z_dim, generator=gen)
        return slerp(ends[0], ends[1], t).reshape(steps, z_dim).repeat(k, 1), torch.arange(k).repeat_interleave(steps)
    ends = torch.randn(2, rows, z_dim, generator=gen)
    return slerp(ends[0], ends[1], t).reshape(rows * steps, z_dim), None


def first_layer_weights(d_state: dict[str, torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor | None:
    """The discriminator's first layer as images, K×C×h×w, from its state dict; None if it has no image-shaped
    first layer.

    A fully connected first layer (MLP) has one weight row per unit over all C·H·W pixels: each row is a C×H×W
    image. A convolutional first layer has K kernels of C×k×k. A discriminator that reads m samples at once
    (PacGAN: m·C channels, or m·C·H·W inputs) has m such images per unit, all shown. The first weight in
    state-dict order is the first layer; spectral norm stores it as ``...parametrizations.weight.original``, which
    differs from the effective weight by one scalar and so looks the same once each filter is normalised."""
    channels = shape[0]
    pixels = math.prod(shape)
    for key, w in d_state.items():
        if not (key.endswith("weight") or key.endswith("weight.original")) or w.ndim not in (2, 4):
            continue
        w = w.detach().float().cpu()
        if w.ndim == 2 and w.shape[1] % pixels == 0:
            return w.reshape(-1, *shape)
        if w.ndim == 4 and w.shape[1] % channels == 0:
            return w.reshape(-1, channels, *w.shape[2:])
        return None  # the first weight does not see pixels (e.g. an embedding): nothing to show
    return None


def discriminator_state(gan: dict) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The discriminator's state dict in a checkpoint's ``gan`` record, and how to name it: ``D`` holds the one
    discriminator; ``Ds`` a list (several discriminators), of which the first is shown."""
    if isinstance(gan.get("D"), dict):
        return gan["D"], "D"
    ds = gan.get("Ds")
    if isinstance(ds, (list, tuple)) and ds and isinstance(ds[0], dict):
        return ds[0], "D" if len(ds) == 1 else f"the first of {len(ds)} discriminators"
    return None, "D"


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = sorted((run_dir / "ckpt").glob("step*.pt"))
    return ckpts[-1] if ckpts else None


def discriminator_filters(ckpt_path: Path, shape: tuple[int, ...], path: Path) -> Picture | None:
    """Grid of the first ``MAX_FILTERS`` first-layer filters of D from a training checkpoint, each scaled to its
    own range (grey: one channel; colour: three). None when the checkpoint has no usable discriminator."""
    from ganbench.train.checkpoint import load_file

    state = load_file(ckpt_path)
    gan = state.get("gan") if isinstance(state.get("gan"), dict) else {}
    d_state, which = discriminator_state(gan)
    if d_state is None:
        return None
    w = first_layer_weights(d_state, shape)
    if w is None:
        return None
    shown = save_filter_grid(w, path)
    return Picture(path, f"first {shown} first-layer filters of {which}, checkpoint at step "
                         f"{int(gan.get('step', 0))}, each scaled to its own range")


def save_filter_grid(w: torch.Tensor, path: Path) -> int:
    """The first ``MAX_FILTERS`` filters of ``w`` (K×C×h×w) as one PNG grid, each scaled to its own range (grey:
    one channel; colour: three; the mean over channels otherwise), small kernels enlarged; returns how many."""
    w = w[:MAX_FILTERS]
    if w.shape[1] not in (1, 3):  # neither grey nor RGB: show the mean over channels
        w = w.mean(1, keepdim=True)
    factor = max(1, math.ceil(MIN_FILTER_PIXELS / w.shape[-1]))
    w = w.repeat_interleave(factor, -1).repeat_interleave(factor, -2)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp_min(1e-12) * 2 - 1  # each filter to [-1, 1], the grid saver's range
    save_image_grid(w, path, nrow=8)
    return len(w)


def _as_float(x: np.ndarray) -> torch.Tensor:
    """uint8 images to floats in [-1, 1], flattened."""
    return torch.from_numpy(x).float().div(127.5).sub(1.0).flatten(1)


@torch.no_grad()
def nearest_neighbours(net: torch.nn.Module, z_dim: int, data: Prepared, path: Path, n: int = 8,
                       chunk: int = 8192) -> Picture:
    """Two rows: the first ``n`` samples of the run's samples.png (the same fixed noise), and under each its
    nearest training image in pixel space (L2). A generator that memorises shows near-copies in the second row."""
    from ganbench.train.run import fixed_noise

    device = next(net.parameters()).device
    fake = net(fixed_noise(GRID_SAMPLES, z_dim, device)[:n]).float().cpu().clamp(-1, 1)
    flat = fake.flatten(1)
    best_d = torch.full((n,), math.inf)
    best_i = torch.zeros(n, dtype=torch.long)
    for start in range(0, len(data.x_train), chunk):
        real = _as_float(data.x_train[start:start + chunk])
        d, i = torch.cdist(flat, real).min(dim=1)
        better = d < best_d
        best_d[better], best_i[better] = d[better], i[better] + start
    neighbours = _as_float(data.x_train[best_i.numpy()]).reshape(fake.shape)
    save_image_grid(torch.cat([fake, neighbours]), path, nrow=n)
    return Picture(path, f"top: {n} samples; bottom: nearest of {len(data.x_train)} training images (pixel L2; "
                         f"median distance {float(best_d.median()):.1f})")


ARITH_SEED = 8765  # latents of the arithmetic picture
ARITH_SAMPLES = 2000  # samples classified to find each class's exemplars
EXEMPLARS = 3  # latents averaged per class (DCGAN: "averaging the Z vector for three exemplars")


def arithmetic_triplets(num_classes: int, rows: int = 4) -> list[tuple[int, int, int]]:
    """(A, B, C) label triplets shown: (a, a+1, a+2) for ``rows`` values of a spread over the classes."""
    step = max(1, num_classes // rows)
    return [(a, (a + 1) % num_classes, (a + 2) % num_classes) for a in range(0, num_classes, step)][:rows]


def _name(names: tuple[str, ...], label: int) -> str:
    return names[label] if label < len(names) else f"class {label}"


@torch.no_grad()
def latent_arithmetic(net: torch.nn.Module, z_dim: int, classifier, num_classes: int, path: Path,
                      class_names: tuple[str, ...] = (), samples: int = ARITH_SAMPLES,
                      exemplars: int = EXEMPLARS) -> Picture:
    """DCGAN's vector arithmetic (Radford et al. 2016, Sec. 6.3) with classes as the concepts: one strip per
    (A, B, C) triplet, G(z̄_A) | G(z̄_B) | G(z̄_C) | G(z̄_A − z̄_B + z̄_C).

    z̄_c is the mean of the ``exemplars`` latents whose samples the domain ``classifier`` gives class c with the
    highest confidence, out of ``samples`` fixed latents. For an unconditional G the latent is z and the class
    comes from the classifier alone. For a conditional G (``LabelledSampler``) the latent is G's whole input
    [z, onehot(y)] for the requested labels y (balanced), and an exemplar of c must be requested as c and
    classified as c; the arithmetic then also acts on the label part. A triplet with a class no sample shows (a
    collapsed generator) is left out and named in the note; ValueError when none is left."""
    from ganbench.train.conditioning import LabelledSampler, balanced_labels
    from ganbench.train.trainer import to_uint8

    device = next(net.parameters()).device
    gen = torch.Generator().manual_seed(ARITH_SEED)
    z = torch.randn(samples, z_dim, generator=gen).to(device)
    if isinstance(net, LabelledSampler):
        requested = balanced_labels(samples, net.conditioning.k, device)
        codes, decode = net.conditioning.code(z, requested), net.generator
    else:
        requested, codes, decode = None, z, net
    images = torch.cat([decode(c).float() for c in codes.split(500)])
    logp = torch.log_softmax(classifier.infer(to_uint8(images).cpu())[1].float(), 1)
    predicted = logp.argmax(1)
    means: dict[int, torch.Tensor] = {}
    wanted = arithmetic_triplets(num_classes)
    for label in sorted({c for t in wanted for c in t}):
        ok = predicted == label
        if requested is not None:
            ok &= requested.cpu() == label
        if ok.any():
            confidence = torch.where(ok, logp[:, label], torch.tensor(-torch.inf))
            best = confidence.topk(min(exemplars, int(ok.sum()))).indices
            means[label] = codes[best.to(device)].mean(0)
    triplets = [t for t in wanted if all(c in means for c in t)]
    missing = sorted({c for t in wanted for c in t} - set(means))
    if not triplets:
        raise ValueError(f"no sample of {samples} shows " + ", ".join(_name(class_names, c) for c in missing) +
                         " (mode collapse?): no triplet to show")
    rows, results = [], []
    for a, b, c in triplets:
        result = means[a] - means[b] + means[c]
        rows.append(torch.stack([means[a], means[b], means[c], result]))
    strip = decode(torch.cat(rows)).float().cpu()
    got = classifier.infer(to_uint8(strip[3::4]))[1].argmax(1).tolist()
    for (a, b, c), label in zip(triplets, got):
        results.append(f"{_name(class_names, a)} − {_name(class_names, b)} + {_name(class_names, c)} → "
                       f"{_name(class_names, label)}")
    save_image_grid(strip, path, nrow=4)
    kind = "G's input [z, one-hot label]" if requested is not None else "z"
    skipped = (" (rows left out: no sample shows " + ", ".join(_name(class_names, c) for c in missing) + ")"
               if missing else "")
    return Picture(path, f"each row: G(A) | G(B) | G(C) | G(A − B + C), with A, B, C the mean {kind} of the "
                         f"{exemplars} samples (of {samples}) the domain classifier is surest show that class; "
                         f"the classifier reads the last column as: " + "; ".join(results) + skipped)
