"""Generator/discriminator families (and the non-adversarial baselines), each registered in ARCHITECTURES by name."""

from ganbench.models import autoencoder, dcgan, mlp, resnet, stylegan, vae  # noqa: F401  (registration)
from ganbench.models.base import ARCHITECTURES, Architecture, EncoderDecoder, ModelFamily

__all__ = ["ARCHITECTURES", "Architecture", "EncoderDecoder", "ModelFamily"]
