"""Training tricks, each registered in TRICKS by its config key."""

from ganbench.tricks import instance_noise, label_smoothing, spectral_norm, weight_clip  # noqa: F401
from ganbench.tricks.base import TRICKS, Trick, build_tricks

__all__ = ["TRICKS", "Trick", "build_tricks"]
