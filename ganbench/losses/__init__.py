"""GAN objectives, each registered in LOSSES by name."""

from ganbench.losses import hinge, least_squares, minimax, ralsgan, rasgan, wasserstein  # noqa: F401  (registration)
from ganbench.losses.base import LOSSES, CriticPass, GANLoss

__all__ = ["LOSSES", "CriticPass", "GANLoss"]
