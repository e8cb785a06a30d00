"""Generator/discriminator families, each registered in ARCHITECTURES by name."""

from ganbench.models import dcgan, mlp  # noqa: F401  (registration)
from ganbench.models.base import ARCHITECTURES, Architecture

__all__ = ["ARCHITECTURES", "Architecture"]
