"""A variational autoencoder (Kingma & Welling 2014) whose decoder is the DCGAN generator, as a non-adversarial
baseline beside the GANs.

decoder: exactly ``DCGAN.generator()`` at the same ``width`` (Linear → transposed convs with BatchNorm and ReLU →
Tanh), so a "VAE" row and a DCGAN row of the report differ in the training objective only, not in G's capacity.
encoder: the DCGAN discriminator's convolutional body (stride-2 convs, BatchNorm, LeakyReLU(0.2)) with a linear
head of 2·z_dim outputs, the mean and log-variance of the Gaussian posterior q(z|x).

``generator()`` is the decoder: it maps z ~ N(0, I) to images in [-1, 1] like any G, so evaluation, snapshots and
the report's pictures treat a VAE run like a GAN run. A VAE has no discriminator (an ``EncoderDecoder`` family):
``encoder()`` builds the other network, and ``ganbench.train.autoencoders.VAEModel`` (``training_model = "vae"``)
trains the pair.
"""

from __future__ import annotations

from torch import nn

from ganbench.models.base import ARCHITECTURES, EncoderDecoder
from ganbench.models.dcgan import DCGAN


@ARCHITECTURES.register("vae")
class VAE(EncoderDecoder):
    """Options: ``width``, the DCGAN width of the decoder and the encoder."""

    kinds = DCGAN.kinds
    defaults = {"width": 64}
    training_model = "vae"

    @classmethod
    def supports(cls, kind, shape):
        return DCGAN.supports(kind, shape)

    def _dcgan(self) -> DCGAN:
        return DCGAN(self.shape, self.kind, self.z_dim, self.num_classes, {"width": self.options["width"]},
                     "architecture")

    def generator(self) -> nn.Module:
        """The decoder: the DCGAN generator of the same width, ending in Tanh."""
        return self._dcgan().generator()

    def encoder(self) -> nn.Module:
        """x → (N, 2·z_dim): the posterior's mean, then its log-variance."""
        body = self._dcgan().discriminator()
        head = body[-2]  # DCGAN's D ends with Flatten → Linear(features, 1) → Flatten(0)
        if not isinstance(head, nn.Linear):
            raise TypeError(f"expected the DCGAN discriminator to end in a Linear layer, found {head}")
        linear = nn.Linear(head.in_features, 2 * self.z_dim)
        nn.init.normal_(linear.weight, 0.0, 0.02)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(*body[:-2], linear)
