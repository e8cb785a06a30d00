"""GAN objectives, each registered in LOSSES by name."""

from ganbench.losses import hinge, least_squares, minimax, wasserstein  # noqa: F401  (registration)
from ganbench.losses.base import LOSSES, GANLoss

__all__ = ["LOSSES", "GANLoss"]
