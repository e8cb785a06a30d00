"""ganbench: a GAN benchmark with real data, real metrics and honest statistics."""

from ganbench.compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
