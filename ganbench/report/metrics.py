"""What the report knows about each metric: its label, which direction is better, how to print it.

A metric computed by the evaluation appears in the report once it has an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganbench.registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    higher_is_better: bool
    fmt: str = "{:.2f}"
    description: str = ""
    kind: str = "image"  # which datasets produce it: "image" or "points"


METRICS: Registry[MetricSpec] = Registry("metric")


def _add(*args, **kwargs) -> None:
    spec = MetricSpec(*args, **kwargs)
    METRICS.register(spec.name)(spec)


_add("fid", "FID (final)", False, "{:.2f}", "Fréchet distance of features, final generator (lower is better)")
_add("fid_best", "FID (best over training)", False, "{:.2f}", "lowest FID over the training snapshots")
_add("kid", "KID", False, "{:.3g}", "kernel inception distance (unbiased MMD², cubic kernel) of the features")
_add("is", "IS", True, "{:.2f}", "Inception Score with the extractor's logits")
_add("precision", "Precision", True, "{:.3f}", "Kynkäänniemi et al. 2019, k = 3")
_add("recall", "Recall", True, "{:.3f}", "Kynkäänniemi et al. 2019, k = 3")
_add("density", "Density", True, "{:.3f}", "Naeem et al. 2020, k = 5: real k-NN balls a sample falls in, ÷ k "
     "(≈ 1 when the distributions match; > 1 when samples crowd dense real regions)")
_add("coverage", "Coverage", True, "{:.3f}", "Naeem et al. 2020, k = 5: fraction of real k-NN balls that hold a "
     "generated sample")
_add("classes_covered", "Classes covered", True, "{:.1f}", "classes with ≥ 1 generated sample (domain classifier)")
_add("class_kl", "Class KL", False, "{:.3f}", "KL(class histogram ‖ uniform)")
_add("stacked_modes", "Modes of 1000 (stacked)", True, "{:.1f}", "Stacked MNIST modes (100·r + 10·g + b, the "
     "domain classifier per channel) with ≥ 1 of evaluation.stacked_samples (26 000) samples")
_add("stacked_kl", "Mode KL (stacked)", False, "{:.3f}", "KL(1000-mode histogram ‖ uniform), stacked datasets")
_add("memorization_ratio", "Memorization ratio", True, "{:.3f}", "median distance of samples to their nearest "
     "training image ÷ that of held-out real images (classifier features): ≈ 1 generalises, < 1 suggests copying "
     "training images, > 1 also means samples far from the data")
_add("wasserstein", "Wasserstein estimate", False, "{:.3f}", "final critic's E[D(x)] − E[D(G(z))] on held-out "
     "data (WGAN, WGAN-GP runs only; comparable between runs of one loss and architecture)")
_add("conditional_accuracy", "Conditional accuracy", True, "{:.3f}", "domain-classifier accuracy on samples "
     "generated for requested labels (conditional architectures)")
_add("modes", "Modes captured", True, "{:.1f}", "mixture modes with ≥ 1 high-quality sample (PacGAN)", kind="points")
_add("hq_percent", "High-quality %", True, "{:.1f}", "samples within 3σ of their nearest mode", kind="points")
_add("reverse_kl", "Reverse KL", False, "{:.3f}", "KL(mode histogram ‖ uniform), high-quality samples", kind="points")

SCALE: dict[str, float] = {}  # display factors per metric (none at present)
