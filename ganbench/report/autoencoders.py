"""The lecture's pictures of an autoencoder or VAE run: reconstructions, the encoder's filters, the latent space.

All three come from the encoder and decoder of the run's newest checkpoint (``ganbench.metrics.reconstruction``)
and the test split of the prepared data, on the CPU:

- input vs reconstruction: the first test images (top) and their reconstructions (bottom);
- the encoder's first-layer filters (its first convolution's kernels), each scaled to its own range;
- the latent space in 2-D: the codes of test images (VAE: posterior means; autoencoder: the flattened code)
  projected on their first two principal components, one colour per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.data import Prepared
from ganbench.metrics.reconstruction import LoadedCodec, to_model
from ganbench.plots import save_image_grid
from ganbench.report.networks import Picture, first_layer_weights, save_filter_grid

LATENT_POINTS = 2000  # test images in the latent-space picture


@torch.no_grad()
def reconstructions(model: LoadedCodec, data: Prepared, path: Path, n: int = 8) -> Picture:
    x = to_model(torch.from_numpy(data.x_test[:n]))
    recon = model.decode(model.encode(x)).float().clamp(-1, 1)
    save_image_grid(torch.cat([x, recon]), path, nrow=n)
    return Picture(path, f"top: the first {n} test images; bottom: their reconstructions (checkpoint at step "
                         f"{model.step})")


def encoder_filters(model: LoadedCodec, shape: tuple[int, ...], path: Path) -> Picture | None:
    w = first_layer_weights(model.encoder.state_dict(), shape)
    if w is None:
        return None
    shown = save_filter_grid(w, path)
    return Picture(path, f"first {shown} first-layer filters of the encoder, each scaled to its own range")


def principal_components(codes: torch.Tensor, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``codes`` (N×D) projected on their top ``k`` principal components, and the fraction of the
    variance each component explains."""
    centred = codes.double() - codes.double().mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    explained = (s.square() / s.square().sum().clamp_min(1e-300))[:k]
    return (centred @ vh[:k].T).numpy(), explained.numpy()


@torch.no_grad()
def latent_map(model: LoadedCodec, data: Prepared, path: Path, class_names: tuple[str, ...] = (),
               n: int = LATENT_POINTS) -> Picture:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganbench.io import atomic_open

    x = to_model(torch.from_numpy(data.x_test[:n]))
    codes = torch.cat([model.encode(chunk).float().flatten(1) for chunk in x.split(500)])
    xy, explained = principal_components(codes)
    labels = data.y_test[:n]
    fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=90)
    cmap = plt.get_cmap("tab10" if data.num_classes <= 10 else "tab20")
    for label in np.unique(labels):
        at = labels == label
        name = class_names[label] if label < len(class_names) else str(label)
        ax.scatter(xy[at, 0], xy[at, 1], s=3, alpha=0.6, color=cmap(int(label) % cmap.N), label=name, linewidths=0)
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f} % of variance)")
    if data.num_classes <= 20:
        ax.legend(fontsize=6, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", bbox_inches="tight")
    plt.close(fig)
    return Picture(path, f"codes of {len(xy)} test images ({codes.shape[1]}-dimensional) on their first two "
                         "principal components (PCA), coloured by the true class")
