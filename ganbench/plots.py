"""Image outputs shared by training and the report: sample grids (torchvision) and 2-D scatter plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.io import atomic_open


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> None:
    """Images in [-1, 1], N×C×H×W, to one PNG grid."""
    from torchvision.utils import save_image

    with atomic_open(path, "wb") as handle:
        save_image(images.float(), handle, nrow=nrow, normalize=True, value_range=(-1, 1), padding=2, format="png")


def save_points(points: np.ndarray, centers: np.ndarray, path: str | Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", linewidths=0)
    if len(centers):
        ax.scatter(centers[:, 0], centers[:, 1], s=30, marker="x", color="tab:red")
        lim = float(np.abs(centers).max()) * 1.5 + 0.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
