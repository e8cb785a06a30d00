"""Perceptual path length (Karras et al. 2019, section 4.2) by torch-fidelity's implementation
(``torch_fidelity.calculate_metrics(ppl=True)``).

PPL is E[d(G(z₀), G(lerp(z₀, z₁, ε))) / ε²] over random code pairs, with the lowest and highest percent of the
distances left out (torch-fidelity's defaults: 1st–99th percentile, applied here: ``discard_outliers``); lower
means the images change smoothly along paths in the latent space. torch-fidelity interpolates the codes z (full
paths, linear interpolation at ε = 1e-4), its defaults.

The distance d (``evaluation.ppl_similarity``) is the paper's LPIPS (torch-fidelity's ``lpips-vgg16``: VGG16
ImageNet features with the LPIPS linear heads) where its two weights files are in torch's hub cache
(``torch.hub.get_dir()/checkpoints``: ``vgg16-397923af.pth`` and ``weights-vgg16-lpips.pth``). torch-fidelity
downloads them on first use, which is impossible offline: it raises a URL error. Without them (``auto``, the
default) the distance is the dataset's domain classifier (the offline feature extractor of the other image
metrics), registered with torch-fidelity as the sample similarity ``ganbench-classifier``: the squared Euclidean
distance of the two images' unit-normalised classifier features (what LPIPS computes per VGG layer, with one
layer and no learned weights). The two are not on the same scale; the metrics record which one was used
(``ppl_similarity``) and the report says it.

The images are compared unquantised (float, not uint8: at ε = 1e-4 a rounded image would mostly change by zero
or one level), and both ends of a pair get the same per-pixel noise of the noise inputs (the paper's protocol;
otherwise the noise alone would dominate d / ε²).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ganbench.metrics.registry import Score, metric

if TYPE_CHECKING:
    from ganbench.metrics.context import RunContext

CLASSIFIER_SIMILARITY = "ganbench-classifier"
LPIPS = "lpips-vgg16"
SIMILARITIES = ("auto", LPIPS, CLASSIFIER_SIMILARITY)
LPIPS_FILES = ("vgg16-397923af.pth", "weights-vgg16-lpips.pth")  # torchvision's VGG16 and torch-fidelity's heads
DISCARD = (1, 99)  # torch-fidelity's ppl_discard_percentile_lower / _higher


def lpips_available() -> bool:
    """Whether torch-fidelity's LPIPS can be built without a download (both files in torch's hub cache)."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return all((folder / name).is_file() for name in LPIPS_FILES)


def similarity_name(option: str) -> str:
    """The sample similarity that ``evaluation.ppl_similarity`` selects here (``auto``: LPIPS when available)."""
    if option == "auto":
        return LPIPS if lpips_available() else CLASSIFIER_SIMILARITY
    return option


def check_similarity(option: str) -> None:
    from ganbench.errors import ConfigError

    if option not in SIMILARITIES:
        raise ConfigError(f"evaluation.ppl_similarity: expected one of {', '.join(SIMILARITIES)}, got {option!r}")
    if option == LPIPS and not lpips_available():
        folder = Path(torch.hub.get_dir()) / "checkpoints"
        raise ConfigError(f"evaluation.ppl_similarity: {LPIPS} needs {' and '.join(LPIPS_FILES)} in {folder} "
                          "(they cannot be downloaded here); put them there, or use auto or ganbench-classifier")


def _register() -> None:
    from torch_fidelity.registry import SAMPLE_SIMILARITY_REGISTRY, register_sample_similarity
    from torch_fidelity.sample_similarity_base import SampleSimilarityBase

    if CLASSIFIER_SIMILARITY in SAMPLE_SIMILARITY_REGISTRY:
        return

    class ClassifierSimilarity(SampleSimilarityBase):
        """‖f(x₀)/|f(x₀)| − f(x₁)/|f(x₁)|‖² with f the domain classifier's features; images as floats in
        [0, 255]."""

        def __init__(self, name, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name)
            from ganbench.metrics.classifier import load_classifier

            self.model = load_classifier(feature_extractor_weights_path)

        def forward(self, in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
            f0, f1 = (nn.functional.normalize(self.model.infer(x.float() / 255.0)[0], dim=1) for x in (in0, in1))
            return (f0 - f1).pow(2).sum(1)

    register_sample_similarity(CLASSIFIER_SIMILARITY, ClassifierSimilarity)


class PairedNoise(nn.Module):
    """The generator as torch-fidelity's PPL calls it: a batch of both path ends [z₀; z₁] → float images in
    [0, 255] (RGB for LPIPS), each half generated with the same noise stream (``evaluate.seeded``)."""

    def __init__(self, net: nn.Module, seed: int, device: torch.device, rgb: bool):
        super().__init__()
        self.net, self.seed, self.device, self.rgb = net, seed, device, rgb
        self.calls = 0

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        from ganbench.metrics.context import seeded

        halves = []
        for part in z.to(self.device).chunk(2):
            with seeded(self.seed, self.calls, self.device):
                halves.append(self.net(part).float())
        self.calls += 1
        x = torch.cat(halves).add(1.0).mul(127.5).clamp(0, 255)
        return x.expand(-1, 3, -1, -1) if self.rgb and x.shape[1] == 1 else x


def perceptual_path_length(net: nn.Module, z_dim: int, options: dict[str, Any], device: torch.device,
                           classifier_path: str | Path | None) -> dict[str, Any]:
    """{"ppl", "ppl_std", "ppl_similarity", "ppl_samples", "ppl_epsilon"} of ``net`` (codes of size ``z_dim``)."""
    import torch_fidelity
    from torch_fidelity.generative_model_modulewrapper import GenerativeModelModuleWrapper

    _register()
    name = similarity_name(options["ppl_similarity"])
    if name == CLASSIFIER_SIMILARITY and classifier_path is None:
        return {"ppl": math.nan, "ppl_similarity": None}
    n, eps = int(options["ppl_samples"]), float(options["ppl_epsilon"])
    model = GenerativeModelModuleWrapper(PairedNoise(net, int(options["seed"]), device, rgb=name == LPIPS), z_dim,
                                         "normal", 0, make_eval=False)
    out = torch_fidelity.calculate_metrics(
        input1=model, input1_model_num_samples=n, ppl=True, ppl_epsilon=eps, ppl_sample_similarity=name,
        ppl_sample_similarity_resize=64 if name == LPIPS else None, ppl_sample_similarity_dtype=None,
        ppl_discard_percentile_lower=None, ppl_discard_percentile_higher=None, ppl_reduction="none",
        feature_extractor_weights_path=None if classifier_path is None else str(classifier_path),
        rng_seed=int(options["seed"]), batch_size=int(options["batch_size"]), cuda=device.type == "cuda",
        verbose=False, cache=False)
    kept = discard_outliers(np.asarray(out["perceptual_path_length_raw"], dtype=np.float64))
    return {"ppl": float(kept.mean()), "ppl_std": float(kept.std()), "ppl_similarity": name, "ppl_samples": n,
            "ppl_epsilon": eps}


def discard_outliers(distances: np.ndarray, lower: float = DISCARD[0], higher: float = DISCARD[1]) -> np.ndarray:
    """The distances between the ``lower`` and ``higher`` percentiles (bounds included), as torch-fidelity's
    ``calculate_ppl`` keeps them. Done here because torch-fidelity 0.4.0 calls ``np.percentile`` with the
    ``interpolation`` keyword, which NumPy 2 removed (now ``method``); its raw distances are used instead."""
    lo = np.percentile(distances, lower, method="lower")
    hi = np.percentile(distances, higher, method="higher")
    return distances[(lo <= distances) & (distances <= hi)]


def _has_truncation(settings: dict[str, Any]) -> bool:
    return settings["architecture"]["name"] == "stylegan"


def _describe(o: dict[str, Any]) -> str:
    return (f"torch-fidelity's PPL over {o['ppl_samples']} paths (full paths in z, ε = {o['ppl_epsilon']:g}, "
            "1st–99th percentile), d / ε² with d LPIPS (VGG16) where its weights are available, else the squared "
            "distance of unit-normalised domain-classifier features; the note under the table says which "
            "(stylegan runs)")


@metric("ppl", kinds=("image",), when=_has_truncation, position=16,
        scores=(Score("ppl", "Perceptual path length", "lower", "{:.1f}", _describe),),
        records=("ppl_std", "ppl_similarity", "ppl_samples", "ppl_epsilon"))
def ppl(ctx: RunContext) -> dict[str, Any]:
    """Perceptual path length of the final generator (truncated by the run's ψ)."""
    net, z_dim = ctx.generator
    return perceptual_path_length(net, z_dim, ctx.options, ctx.device, ctx.shared.classifier_path)
