"""Class-conditional GANs as a transform of the tensors the training step already passes around.

The label y (one-hot over K classes) travels inside the inputs:

- G's input is the code [z, onehot(y)]: the generator is built for z_dim + K inputs (Mirza & Osindero 2014);
- D's input is [x, onehot(y)]: K extra channels, constant over the image (extra features for 2-D points).

Every trick that acts on D's inputs (instance noise, replay, packing, penalties) therefore keeps each image with its
label, and the step itself has no conditional branch. What acts on the data alone goes through ``map_data`` /
``data_part`` (instance noise corrupts the image, not its label; a gradient penalty takes the norm over the image)
and ``labels_in`` (a gradient penalty interpolates between a real and a fake sample of the same class).

Two ways for D to use the label:

- ``concat`` (Mirza & Osindero): D is built for C + K input channels;
- ``projection`` (Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018): D is built for the image
  alone; a wrapper strips the label channels and adds ⟨embed(y), φ(x)⟩ to the logit, φ being the features that
  enter D's final linear layer.

``none`` is the unconditional GAN. Generated samples of a conditional model use balanced labels (0, 1, …, K−1, 0, …)
unless labels are requested, so every metric sees all classes equally often.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.registry import Registry

CONDITIONINGS: Registry[type["Conditioning"]] = Registry("conditioning")


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """0, 1, …, K−1, 0, 1, … : ``n`` labels, every class equally often (±1)."""
    return torch.arange(n, device=device) % num_classes


class Conditioning:
    """Unconditional: every method is the identity. ``active``: labels travel in G's and D's inputs;
    ``separates_labels``: D reads the label apart from the data (so one D input must be one sample)."""

    active: ClassVar[bool] = False
    separates_labels: ClassVar[bool] = False

    def __init__(self, num_classes: int):
        self.k = int(num_classes)

    def g_inputs(self, z_dim: int) -> int:
        return z_dim

    def d_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def code(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """G's input for noise ``z`` and class indices ``labels``."""
        return z

    def labels_of(self, code: torch.Tensor) -> torch.Tensor | None:
        """The one-hot labels inside a code made by ``code``."""
        return None

    def attach(self, x: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
        """D's input for samples ``x`` with one-hot labels."""
        return x

    def wrap_discriminator(self, D: nn.Module, shape: tuple[int, ...]) -> nn.Module:
        return D

    def data_part(self, x: torch.Tensor) -> torch.Tensor:
        """The data of D inputs ``x`` without their label channels/features."""
        return x

    def map_data(self, x: torch.Tensor, fn) -> torch.Tensor:
        """D inputs ``x`` with ``fn`` applied to their data part; the labels pass unchanged."""
        return fn(x)

    def labels_in(self, x: torch.Tensor) -> torch.Tensor | None:
        """The class indices carried by D inputs ``x`` (None when unconditional)."""
        return None

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels.long(), self.k).float()


@CONDITIONINGS.register("none")
class Unconditional(Conditioning):
    pass


@CONDITIONINGS.register("concat")
class Concat(Conditioning):
    active = True

    def g_inputs(self, z_dim):
        return z_dim + self.k

    def d_shape(self, shape):
        return (shape[0] + self.k, *shape[1:])

    def code(self, z, labels):
        if labels is None:
            labels = torch.randint(0, self.k, (z.shape[0],), device=z.device)
        return torch.cat([z, self.one_hot(labels.to(z.device))], 1)

    def labels_of(self, code):
        return code[:, -self.k:]

    def attach(self, x, onehot):
        if x.dim() == 2:
            return torch.cat([x, onehot.to(x.dtype)], 1)
        planes = onehot.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return torch.cat([x, planes], 1)

    def data_part(self, x):
        return x[:, : x.shape[1] - self.k]

    def map_data(self, x, fn):
        c = x.shape[1] - self.k
        return torch.cat([fn(x[:, :c]), x[:, c:]], 1)

    def labels_in(self, x):
        onehot = x[:, x.shape[1] - self.k:]
        return (onehot if x.dim() == 2 else onehot.flatten(2)[:, :, 0]).argmax(1)


class _LabelSlot:
    """Carries the current batch's labels from the projection wrapper to its head (not a module, not state)."""

    y: torch.Tensor | None = None


class _ProjectionHead(nn.Module):
    def __init__(self, head: nn.Linear, num_classes: int, slot: _LabelSlot):
        super().__init__()
        self.embed = nn.Linear(num_classes, head.in_features, bias=False)  # before `head`: it stays D's last Linear
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.head = head
        self.slot = slot

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.head(phi) + (self.embed(self.slot.y) * phi).sum(1, keepdim=True)


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ for inputs [x, onehot(y)] (labels as the last K channels)."""

    def __init__(self, inner: nn.Module, num_classes: int, channels: int):
        super().__init__()
        from ganbench.tricks.surgery import head, replace

        self.channels = channels
        self.slot = _LabelSlot()
        name, linear = head(inner)
        replace(inner, name, _ProjectionHead(linear, num_classes, self.slot))
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            image, onehot = x[:, : self.channels], x[:, self.channels:]
        else:
            image, onehot = x[:, : self.channels], x[:, self.channels:].mean(dim=(2, 3))
        self.slot.y = onehot
        try:
            return self.inner(image)
        finally:
            self.slot.y = None


@CONDITIONINGS.register("projection")
class Projection(Concat):
    separates_labels = True

    def d_shape(self, shape):
        return shape

    def wrap_discriminator(self, D, shape):
        return ProjectionDiscriminator(D, self.k, shape[0])


class LabelledSampler(nn.Module):
    """A conditional generator as evaluation uses it: ``forward(z)`` draws balanced labels, ``forward(z, y)`` the
    requested ones. Its state dict is the generator's own."""

    def __init__(self, generator: nn.Module, conditioning: Conditioning):
        super().__init__()
        self.generator = generator
        self.conditioning = conditioning

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = balanced_labels(z.shape[0], self.conditioning.k, z.device)
        return self.generator(self.conditioning.code(z, labels))


def conditioning_of(settings: dict, num_classes: int, key: str = "conditional") -> Conditioning:
    return CONDITIONINGS.get(settings.get("conditional", "none"), key=key)(num_classes)
