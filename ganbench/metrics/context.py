"""What a metric sees: one trained run (``RunContext``), the real side being built (``RealContext``) and the
real-vs-real floor (``FloorContext``), each loading or computing what it holds at most once; and the model
rebuilding and sampling they share (``load_generator``, ``generate``, ``snapshots``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ganbench.data import Prepared
from ganbench.errors import DataError
from ganbench.io import read_json
from ganbench.metrics.extractors import CLASS_FEATURES, CLASS_LOGITS, FID, FeaturePipeline
from ganbench.metrics.truncation import apply_truncation, truncation_psi
from ganbench.models import ARCHITECTURES
from ganbench.train.conditioning import LabelledSampler, conditioning_of
from ganbench.train.trainer import to_uint8


def batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


def subset(x: np.ndarray, n: int, seed: int) -> torch.Tensor:
    """Up to ``n`` rows of ``x`` chosen at random with ``seed``, in their order in ``x``."""
    idx = np.random.default_rng(seed).permutation(len(x))[: min(n, len(x))]
    return torch.from_numpy(x[np.sort(idx)])


def heldout_pair(x: np.ndarray, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random subsets of ``x`` of up to ``n`` samples each (halves when ``x`` has fewer than 2n)."""
    n = min(n, len(x) // 2)
    order = np.random.default_rng(seed).permutation(len(x))
    return torch.from_numpy(x[np.sort(order[:n])]), torch.from_numpy(x[np.sort(order[n:2 * n])])


def is_stacked(data: Prepared) -> bool:
    return bool(data.meta.get("base_dataset"))


def sample_total(data: Prepared, options: dict[str, Any]) -> int:
    """Samples to draw from a generator of this dataset: ``mixture_samples`` for a 2-D mixture (its protocol's
    count), ``num_samples`` for images, or ``stacked_samples`` when more for the mode count of a stacked dataset."""
    if data.kind == "points":
        return int(options["mixture_samples"])
    n = int(options["num_samples"])
    return max(n, int(options["stacked_samples"])) if is_stacked(data) else n


def mixture_options(options: dict[str, Any]) -> tuple[int, float]:
    """(samples per mixture evaluation, ``mode_min_share``)."""
    return int(options["mixture_samples"]), float(options["mode_min_share"])


def data_has(data: Prepared, need: str, classifier: bool) -> bool:
    """Whether an optional need of a metric (``registry.NEEDS``) is there for this dataset."""
    if need == "classifier":
        return classifier
    if need == "classes":
        return data.num_classes > 0
    if need == "stacked":
        return is_stacked(data)
    return True


# ------------------------------------------------------------------------------------------- models
def load_generator(run_dir: Path, data: Prepared, device: torch.device, weights: Path | None = None):
    """(generator in eval mode on ``device``, z_dim) of a run, rebuilt from its train.json by the architecture
    factory; ``weights``: a snapshot instead of generator.pt. A conditional generator is wrapped to map z to
    balanced labels (``LabelledSampler``)."""
    settings = read_json(Path(run_dir) / "train.json")["settings"]
    conditioning = conditioning_of(settings, data.num_classes)
    family = ARCHITECTURES.build(settings["architecture"], "architecture", data.shape, data.kind,
                                 conditioning.g_inputs(int(settings["z_dim"])), data.num_classes)
    net = family.generator()
    state = torch.load(weights or Path(run_dir) / "generator.pt", map_location="cpu", weights_only=True)
    if any(".parametrizations." in k for k in state):  # spectral norm on G: rebuild the same parametrisation
        from ganbench.tricks.spectral_norm import apply_spectral_norm

        apply_spectral_norm(net)
    net.load_state_dict(state)
    if conditioning.active:  # z → balanced labels; net(z, y) for requested ones
        net = LabelledSampler(net, conditioning)
    return net.to(device).eval(), int(settings["z_dim"])


@contextmanager
def seeded(seed: int, index: int, device: torch.device) -> Iterator[None]:
    """Every random draw inside (StyleGAN's per-pixel noise inputs, any layer that samples) comes from a stream
    fixed by (``seed``, ``index``), on the CPU and on ``device``; the global RNG state is restored afterwards."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1))
        yield


@torch.no_grad()
def generate(net, z_dim: int, n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    """``n`` samples in batches: the codes from ``seed``, and every other random draw of the network (noise inputs)
    from a stream per batch (``seeded``), so the same seed and batch size give the same samples every time."""
    gen = torch.Generator().manual_seed(seed)
    for index, i in enumerate(range(0, n, batch_size)):
        z = torch.randn(min(batch_size, n - i), z_dim, generator=gen).to(device)
        with seeded(seed, index, device):
            x = net(z)
        yield x.float()


def snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every generator snapshot the trainer saved under ``snapshots/``, in step order."""
    return [(int(p.stem[4:]), p) for p in sorted((Path(run_dir) / "snapshots").glob("step*.pt"))]


# ------------------------------------------------------------------------------------------- one run
@dataclass
class Shared:
    """What every run of one evaluate job shares, each loaded at most once: the prepared dataset, the feature
    networks and the cached real side."""

    data: Prepared
    options: dict[str, Any]
    device: torch.device
    real_features_path: str | Path | None = None
    classifier_path: str | Path | None = None

    @cached_property
    def pipeline(self) -> FeaturePipeline:
        return FeaturePipeline.build(self.options, self.classifier_path, self.device)

    @cached_property
    def real(self) -> dict[str, Any]:
        if self.real_features_path is None:
            raise DataError("evaluate: image datasets need --real-features (the real_features rule's real.pt)")
        return torch.load(self.real_features_path, map_location="cpu", weights_only=True)


@dataclass
class RunContext:
    """One trained run and everything its metrics share, each loaded or computed at most once."""

    run_dir: Path
    shared: Shared
    train: dict[str, Any]

    @property
    def data(self) -> Prepared:
        return self.shared.data

    @property
    def options(self) -> dict[str, Any]:
        return self.shared.options

    @property
    def device(self) -> torch.device:
        return self.shared.device

    @property
    def pipeline(self) -> FeaturePipeline:
        return self.shared.pipeline

    @property
    def real(self) -> dict[str, Any]:
        return self.shared.real

    @property
    def settings(self) -> dict[str, Any]:
        return self.train["settings"]

    @property
    def n(self) -> int:
        return int(self.options["num_samples"])

    @property
    def has_classifier(self) -> bool:
        return self.shared.classifier_path is not None

    def available(self, need: str) -> bool:
        return data_has(self.data, need, self.has_classifier)

    @cached_property
    def truncation_psi(self) -> float | None:
        """The ψ every sample of this run is drawn with (``ganbench.metrics.truncation``)."""
        return truncation_psi(self.settings, self.options)

    def load(self, weights: Path | None = None) -> tuple[torch.nn.Module, int]:
        """The final generator (or the snapshot ``weights``), truncated by ``truncation_psi``."""
        net, z_dim = load_generator(self.run_dir, self.data, self.device, weights)
        return apply_truncation(net, self.truncation_psi), z_dim

    @cached_property
    def generator(self) -> tuple[torch.nn.Module, int]:
        return self.load()

    def samples(self, net: torch.nn.Module, n: int) -> Iterator[torch.Tensor]:
        z_dim = self.generator[1]
        bs, seed = int(self.options["batch_size"]), int(self.options["seed"])
        return (to_uint8(x) for x in generate(net, z_dim, n, bs, seed, self.device))

    @cached_property
    def generated(self) -> dict[str, torch.Tensor]:
        """Features of the final generator's samples: every role for the first ``num_samples``, classifier
        labels for all ``sample_total`` of them."""
        return self.pipeline(self.samples(self.generator[0], sample_total(self.data, self.options)), head=self.n)

    @cached_property
    def labels(self) -> np.ndarray:
        return self.generated[CLASS_LOGITS].argmax(1).numpy()


# ------------------------------------------------------------------------------------------- real side
@dataclass
class RealContext:
    """The real side of one dataset while it is built: what a metric's ``real`` hook reads (``real``: the real
    split's features by role), and ``floor_inputs``, where a hook leaves what its ``floor`` needs later (e.g. a
    second held-out subset)."""

    data: Prepared
    pipeline: FeaturePipeline
    options: dict[str, Any]
    real: dict[str, Any] = field(default_factory=dict)
    floor_inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return int(self.options["seed"])

    @property
    def batch_size(self) -> int:
        return int(self.options["batch_size"])

    def available(self, need: str) -> bool:
        return data_has(self.data, need, CLASS_FEATURES in self.pipeline.roles)

    def features(self, images: torch.Tensor | np.ndarray, role: str) -> torch.Tensor:
        """One role's features of ``images`` (uint8), in batches."""
        x = torch.from_numpy(images) if isinstance(images, np.ndarray) else images
        return self.pipeline(batches(x, self.batch_size), roles=[role])[role]


@dataclass
class FloorContext:
    """The real-vs-real comparison: ``sample`` (``sample_total`` images of the split that is not the evaluation
    split) plays the generator against ``real`` (the stored real side)."""

    real_side: RealContext
    real: dict[str, Any]

    @property
    def data(self) -> Prepared:
        return self.real_side.data

    @property
    def options(self) -> dict[str, Any]:
        return self.real_side.options

    @property
    def pipeline(self) -> FeaturePipeline:
        return self.real_side.pipeline

    @property
    def floor_inputs(self) -> dict[str, Any]:
        return self.real_side.floor_inputs

    @property
    def n(self) -> int:
        return int(self.options["num_samples"])

    @property
    def split(self) -> str:
        """The other split the floor compares with: never the test split when the evaluation's is validation (a
        search's phase 1 must not read it)."""
        return "test" if self.options["real_split"] == "train" else "train"

    def available(self, need: str) -> bool:
        return self.real_side.available(need)

    @cached_property
    def generated(self) -> dict[str, torch.Tensor]:
        """Features of the other split's sample, as ``RunContext.generated`` has them for a run."""
        sample = subset(self.data.split(self.split)[0], sample_total(self.data, self.options),
                        self.real_side.seed + 1)
        return self.pipeline(batches(sample, self.real_side.batch_size), head=self.n)

    @cached_property
    def labels(self) -> np.ndarray | None:
        feats = self.generated
        return feats[CLASS_LOGITS].argmax(1).numpy() if CLASS_LOGITS in feats else None

    @property
    def samples(self) -> int:
        return len(self.generated[FID])
