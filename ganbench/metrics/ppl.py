"""Perceptual path length (Karras et al. 2019, section 4.2), in Z by torch-fidelity and in W by ganbench.

PPL is E[d(G(lerp(a, b, t)), G(lerp(a, b, t + ε))) / ε²] over random pairs of latents (a, b), with the lowest and
highest percent of the distances left out (1st–99th percentile, as torch-fidelity and the paper's code do:
``discard_outliers``); lower means the images change smoothly along paths in the latent space.

- ``ppl``: torch-fidelity's implementation (``torch_fidelity.calculate_metrics(ppl=True)``), in the codes z. It
  starts every path at its first code (t = 0, the paper's "end" sampling) and steps linearly towards the second by
  ε = 1e-4, its defaults.
- ``ppl_w``: in the intermediate latent space W of the style-based generator, the space the paper measures
  style-based generators in (its Tables 3 and 4): both codes are mapped to w (and truncated by the run's ψ), t is
  uniform in [0, 1] (the paper's "full" sampling) and the interpolation is linear, as in NVlabs' StyleGAN
  ``metrics/perceptual_path_length.py`` (space "w"). torch-fidelity cannot interpolate in W (it interpolates the
  generator's input), so ganbench draws these paths itself and measures them with the same torch-fidelity sample
  similarity. A generator without a mapping network (``mapping_layers: 0``) has w = the normalised code.

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
otherwise the noise alone would dominate d / ε²). A conditional generator draws one label per path, the same at both
ends (as torch-fidelity does).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ganbench.metrics.registry import Option, Score, metric

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


def _similarity(name: str, classifier_path: str | Path | None, device: torch.device) -> nn.Module:
    """torch-fidelity's sample similarity ``name`` as its PPL builds it (LPIPS compares at 64 × 64)."""
    from torch_fidelity.utils import create_sample_similarity

    _register()
    if name == LPIPS:
        return create_sample_similarity(name, cuda=device.type == "cuda", sample_similarity_resize=64,
                                        sample_similarity_dtype=None, verbose=False)
    return create_sample_similarity(name, cuda=device.type == "cuda", verbose=False,
                                    feature_extractor_weights_path=str(classifier_path))


@torch.no_grad()
def w_path_lengths(net: nn.Module, z_dim: int, n: int, eps: float, batch_size: int, seed: int,
                   device: torch.device, similarity: nn.Module, rgb: bool) -> np.ndarray:
    """d / ε² of ``n`` paths in W (t uniform in [0, 1], linear interpolation; unfiltered): the codes and t come
    from ``seed``, each batch's noise inputs from (``seed``, batch) for both ends."""
    from ganbench.metrics.context import seeded
    from ganbench.metrics.mixing import style_parts

    gen, codes = style_parts(net)
    rng = torch.Generator().manual_seed(int(seed))
    out = []
    for i, start in enumerate(range(0, n, batch_size)):
        b = min(batch_size, n - start)
        z = torch.stack([torch.randn(b, z_dim, generator=rng) for _ in range(2)], 1).to(device)  # (b, 2 ends, z)
        t = torch.rand(b, 1, generator=rng).to(device)
        w0, w1 = gen.truncate(gen.mapping(codes(z).flatten(0, 1))).view(b, 2, -1).unbind(1)
        ends = []
        for w in (torch.lerp(w0, w1, t), torch.lerp(w0, w1, t + eps)):
            with seeded(seed, i, device):
                x = gen.synthesis(gen.broadcast(w)).float().add(1.0).mul(127.5).clamp(0, 255)
            ends.append(x.expand(-1, 3, -1, -1) if rgb and x.shape[1] == 1 else x)
        out.append((similarity(*ends) / eps ** 2).double().cpu().numpy())
    return np.concatenate(out)


def perceptual_path_length(net: nn.Module, z_dim: int, options: dict[str, Any], device: torch.device,
                           classifier_path: str | Path | None) -> dict[str, Any]:
    """{"ppl", "ppl_std", "ppl_similarity", "ppl_samples", "ppl_epsilon"} of ``net`` (codes of size ``z_dim``)."""
    import torch_fidelity
    from torch_fidelity.generative_model_modulewrapper import GenerativeModelModuleWrapper

    _register()
    name = similarity_name(options["ppl_similarity"])
    if name == CLASSIFIER_SIMILARITY and classifier_path is None:
        return {"ppl": math.nan, "ppl_w": math.nan, "ppl_similarity": None}
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
    w_kept = discard_outliers(w_path_lengths(net, z_dim, n, eps, int(options["batch_size"]), int(options["seed"]),
                                             device, _similarity(name, classifier_path, device), name == LPIPS))
    return {"ppl": float(kept.mean()), "ppl_std": float(kept.std()), "ppl_w": float(w_kept.mean()),
            "ppl_w_std": float(w_kept.std()), "ppl_similarity": name, "ppl_samples": n, "ppl_epsilon": eps}


def discard_outliers(distances: np.ndarray, lower: float = DISCARD[0], higher: float = DISCARD[1]) -> np.ndarray:
    """The distances between the ``lower`` and ``higher`` percentiles (bounds included), as torch-fidelity's
    ``calculate_ppl`` keeps them. Done here because torch-fidelity 0.4.0 calls ``np.percentile`` with the
    ``interpolation`` keyword, which NumPy 2 removed (now ``method``); its raw distances are used instead."""
    lo = np.percentile(distances, lower, method="lower")
    hi = np.percentile(distances, higher, method="higher")
    return distances[(lo <= distances) & (distances <= hi)]


def _has_truncation(settings: dict[str, Any]) -> bool:
    return settings["architecture"]["name"] == "stylegan"


_DISTANCE = ("d / ε² with d LPIPS (VGG16) where its weights are available, else the squared distance of "
             "unit-normalised domain-classifier features; the note under the table says which (stylegan runs)")


def _describe(o: dict[str, Any]) -> str:
    return (f"torch-fidelity's PPL over {o['ppl_samples']} paths in z (path ends: t = 0, linear step "
            f"ε = {o['ppl_epsilon']:g}, 1st–99th percentile), " + _DISTANCE)


def _describe_w(o: dict[str, Any]) -> str:
    return (f"PPL over {o['ppl_samples']} paths in W, the paper's space for style-based generators (full paths: "
            f"t uniform in [0, 1], linear, ε = {o['ppl_epsilon']:g}, 1st–99th percentile), " + _DISTANCE)


@metric("ppl", kinds=("image",), when=_has_truncation, position=16,
        scores=(Score("ppl", "Perceptual path length (Z, end)", "lower", "{:.1f}", _describe),
                Score("ppl_w", "Perceptual path length (W, full)", "lower", "{:.1f}", _describe_w)),
        records=("ppl_std", "ppl_w_std", "ppl_similarity", "ppl_samples", "ppl_epsilon"),
        options=(
            Option("ppl_samples", 2000, {
                "type": "integer", "minimum": 2,
                "description": "Path pairs of the perceptual path length (stylegan runs; the paper: 100 000)."}),
            Option("ppl_epsilon", 1e-4, {"type": "number", "exclusiveMinimum": 0,
                                         "description": "Step along the path of PPL (paper: 1e-4)."}),
            Option("ppl_similarity", "auto", {
                "enum": list(SIMILARITIES), "description":
                    "The image distance of PPL: torch-fidelity's LPIPS (needs its VGG16 and LPIPS weights in torch's "
                    "hub cache), the dataset's domain classifier features, or auto (LPIPS when its weights are there, "
                    "else the classifier)."}, check=check_similarity),
        ))
def ppl(ctx: RunContext) -> dict[str, Any]:
    """Perceptual path lengths of the final generator in Z and in W (truncated by the run's ψ)."""
    net, z_dim = ctx.generator
    return perceptual_path_length(net, z_dim, ctx.options, ctx.device, ctx.shared.classifier_path)
