"""Non-adversarial baselines trained by the Trainer: a VAE and the lecture's convolutional autoencoder.

They are training models of their own (``ganbench.train.models.TrainingModel``), not GANs: an encoder and a decoder
trained on one objective by one optimizer, one batch per step. ``G`` is the decoder side, the network that maps
z ~ N(0, I) to images (what ``generator()`` of the architecture builds, so ``generator.pt`` loads in evaluation
unchanged); ``networks()`` is G and the encoder, which the Trainer's divergence check and ``torch.compile`` cover.
Checkpoints store the encoder as ``encoder``: it is not a discriminator, and the report's "filters of D" picture
says so rather than showing encoder filters.

One Adam (or whichever ``optimizer.name``) over both networks at ``optimizer.lr_g``. ``loss``, ``lr_d`` and
``d_steps`` of the settings are not used, and tricks and class conditioning are refused by the config check (they
belong to the adversarial step: ``adversarial`` is false).

The per-step statistics fill the GAN's log columns (``ganbench.train.gan.STAT_NAMES``) as follows:

- ``loss_d``: reconstruction loss, the binary cross-entropy of the decoder's Bernoulli means against the image's
  [0, 1] intensities, summed over pixels and averaged over the batch (nats per image; not zero at a perfect
  reconstruction of grey pixels, whose intensity has entropy);
- ``loss_g``: the VAE's KL(q(z|x) ‖ N(0, I)), nats per image (so loss_d + loss_g is the negative ELBO); 0 for
  the autoencoder;
- ``d_real``, ``d_fake``, ``critic_gap``, ``penalty``: 0 (there is no critic).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.models import ARCHITECTURES
from ganbench.models.autoencoder import FittedGaussianDecoder
from ganbench.train.conditioning import Unconditional
from ganbench.train.gan import STAT_NAMES
from ganbench.train.optim import make_optimizer

CODE_MOMENTUM = 0.01  # the autoencoder's code statistics average the last ~1/CODE_MOMENTUM batches


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of images ``x`` in [-1, 1] (as intensities (x + 1)/2) under Bernoulli ``logits``:
    summed over each image's pixels, averaged over the batch. In float32 (autocast-safe: from logits)."""
    target = (x.float() + 1.0) / 2.0
    nll = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    return nll.flatten(1).sum(1).mean()


class ReconstructionModel(ABC):
    """An encoder/decoder pair trained on one objective by one optimizer; subclasses define ``losses``."""

    adversarial: ClassVar[bool] = False
    batches_per_step: ClassVar[int] = 1

    def __init__(self, settings: dict[str, Any], shape: tuple[int, ...], kind: str, num_classes: int,
                 device: torch.device):
        self.settings = settings
        self.device = device
        self.z_dim = int(settings["z_dim"])
        self.batch_size = int(settings["batch_size"])
        self.step = 0
        self.conditioning = Unconditional(0)
        self.family = ARCHITECTURES.build(settings["architecture"], "architecture", shape, kind, self.z_dim,
                                          num_classes)
        self.G: nn.Module = self.family.generator().to(device)
        self.encoder: nn.Module = self.family.encoder().to(device)
        self.opt = make_optimizer([*self.encoder.parameters(), *self.G.parameters()],
                                  float(settings["optimizer"]["lr_g"]), settings["optimizer"])

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.G, "encoder": self.encoder}

    @abstractmethod
    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, regulariser) on a batch, each a 0-d float32 tensor; their sum is minimised."""

    def train_step(self, next_real: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
        self.G.train()
        self.encoder.train()
        reconstruction, regulariser = self.losses(next_real())
        self.opt.zero_grad(set_to_none=True)
        (reconstruction + regulariser).backward()
        self.opt.step()
        self.step += 1
        zero = torch.zeros((), device=self.device)
        stats = dict.fromkeys(STAT_NAMES, zero)
        stats.update(loss_d=reconstruction.detach(), loss_g=regulariser.detach())
        return stats

    def real_batch(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return x  # unconditional: labels are not used

    def sampler(self) -> nn.Module:
        return self.G

    def raw_generator(self) -> nn.Module | None:
        return None

    # ------------------------------------------------------------------ state for checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "G": self.G.state_dict(), "encoder": self.encoder.state_dict(),
                "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.G.load_state_dict(state["G"])
        self.encoder.load_state_dict(state["encoder"])
        self.opt.load_state_dict(state["opt"])


class VAEModel(ReconstructionModel):
    """Kingma & Welling (2014): Gaussian posterior from the encoder, one reparametrised sample, Bernoulli decoder.

    The decoder (``G``) ends in Tanh; tanh(a) = 2·sigmoid(2a) − 1, so its [-1, 1] output is the Bernoulli mean
    rescaled and 2a are the logits of the reconstruction loss."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not (isinstance(self.G, nn.Sequential) and isinstance(self.G[-1], nn.Tanh)):
            raise TypeError("the VAE's decoder must be an nn.Sequential ending in Tanh")
        self.pre_tanh = self.G[:-1]  # the same modules, without the Tanh

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        reconstruction = bernoulli_nll(2.0 * self.pre_tanh(z), x)
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1).mean()
        return reconstruction, kl


class AutoencoderModel(ReconstructionModel):
    """The plain autoencoder: reconstruction loss only. It also keeps the mean and covariance of the codes of the
    training batches (an exponential moving average over ~1/CODE_MOMENTUM batches, an exact running average
    before that, as the encoder keeps changing); ``sampler()`` is the decoder with a Gaussian fitted to them."""

    G: FittedGaussianDecoder

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        code_dim = self.G.mean.numel()
        self.code_mean = torch.zeros(code_dim, device=self.device)
        self.code_cov = torch.zeros(code_dim, code_dim, device=self.device)
        self.code_batches = 0

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x)
        reconstruction = bernoulli_nll(self.G.decoder.logits(code), x)
        self._track(code.detach())
        return reconstruction, torch.zeros((), device=self.device)

    @torch.no_grad()
    def _track(self, code: torch.Tensor) -> None:
        """Merge one batch's code mean and covariance into the running ones (the moments of the mixture)."""
        with torch.autocast(self.device.type, enabled=False):
            c = code.float().flatten(1)
            self.code_batches += 1
            w = max(CODE_MOMENTUM, 1.0 / self.code_batches)
            mean = c.mean(0)
            centred = c - mean
            delta = mean - self.code_mean
            self.code_cov.mul_(1.0 - w).add_(centred.T @ centred, alpha=w / c.shape[0])
            self.code_cov.add_(torch.outer(delta, delta), alpha=w * (1.0 - w))
            self.code_mean.add_(delta, alpha=w)

    def sampler(self) -> FittedGaussianDecoder:
        """A sampler of the current code statistics: G's decoder (shared, not copied) under a Gaussian fitted now.
        G itself, the model's state and the random streams are left as they are."""
        net = FittedGaussianDecoder(self.G.decoder, self.G.code_shape, self.G.basis.shape[1]).to(self.device)
        net.fit(self.code_mean, self.code_cov)
        return net

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "codes": {"mean": self.code_mean, "cov": self.code_cov,
                                                  "batches": self.code_batches}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.code_mean.copy_(state["codes"]["mean"])
        self.code_cov.copy_(state["codes"]["cov"])
        self.code_batches = int(state["codes"]["batches"])
