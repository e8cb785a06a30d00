"""What the report knows about each metric: its label, which direction is better, how to print it.

A metric computed by the evaluation appears in the report once it has an entry here. ``better`` says which mean
of a column is bold: "higher", "lower", "floor" (the closest to the column's real-vs-real value: a metric whose
ideal is the data's own value, not an extreme) or "none" (no best: a count shown for reading, not ranking).
"""

from __future__ import annotations

from dataclasses import dataclass

from ganbench.registry import Registry

DIRECTIONS = {"higher": "higher is better", "lower": "lower is better",
              "floor": "closest to the real-vs-real value (data row) is better", "none": "no better direction"}


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    better: str  # a key of DIRECTIONS
    fmt: str = "{:.2f}"
    description: str = ""
    kind: str = "image"  # which datasets produce it: "image" or "points"

    def __post_init__(self) -> None:
        if self.better not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: better must be one of {', '.join(DIRECTIONS)}, not {self.better!r}")

    @property
    def direction(self) -> str:
        """The table header's words for ``better``."""
        return DIRECTIONS[self.better]


METRICS: Registry[MetricSpec] = Registry("metric")


def _add(*args, **kwargs) -> None:
    spec = MetricSpec(*args, **kwargs)
    METRICS.register(spec.name)(spec)


_add("fid", "FID (final)", "lower", "{:.2f}", "Fréchet distance of features, final generator (lower is better)")
_add("fid_best", "FID (best over training)", "lower", "{:.2f}", "lowest FID over the training snapshots")
_add("kid", "KID", "lower", "{:.3g}", "kernel inception distance (unbiased MMD², cubic kernel) of the features")
_add("is", "IS", "higher", "{:.2f}", "Inception Score with the extractor's logits")
_add("precision", "Precision", "higher", "{:.3f}", "Kynkäänniemi et al. 2019, k = 3")
_add("recall", "Recall", "higher", "{:.3f}", "Kynkäänniemi et al. 2019, k = 3")
_add("density", "Density", "higher", "{:.3f}", "Naeem et al. 2020, k = 5: real k-NN balls a sample falls in, ÷ k "
     "(≈ 1 when the distributions match; > 1 when samples crowd dense real regions)")
_add("coverage", "Coverage", "higher", "{:.3f}", "Naeem et al. 2020, k = 5: fraction of real k-NN balls that hold a "
     "generated sample")
_add("classes_covered", "Classes covered", "higher", "{:.1f}", "classes with ≥ 1 generated sample (domain "
     "classifier); one stray sample counts: see the next table and the per-class counts under Plots")
_add("classes_reached", "Classes reached", "higher", "{:.1f}", "classes holding ≥ evaluation.mode_min_share of a "
     "uniform share of the samples (≥ share · N / K of N; domain classifier)")
_add("class_kl", "Class KL", "lower", "{:.3f}", "KL(class histogram ‖ uniform)")
_add("stacked_modes", "Modes of 1000 (stacked)", "higher", "{:.1f}", "Stacked MNIST modes (100·r + 10·g + b, the "
     "domain classifier per channel) with ≥ 1 of evaluation.stacked_samples (26 000) samples")
_add("stacked_modes_reached", "Modes of 1000 reached (stacked)", "higher", "{:.1f}", "stacked modes holding ≥ "
     "evaluation.mode_min_share of a uniform share of the samples (≥ share · N / 1000 of N)")
_add("stacked_kl", "Mode KL (stacked)", "lower", "{:.3f}", "KL(1000-mode histogram ‖ uniform), stacked datasets")
_add("memorization_ratio", "Memorization ratio", "floor", "{:.3f}", "median distance of samples to their nearest "
     "training image ÷ that of held-out real images (classifier features): ≈ 1 generalises, < 1 suggests copying "
     "training images, > 1 also means samples far from the data")
_add("wasserstein", "Wasserstein estimate", "lower", "{:.3f}", "final critic's E[D(x)] − E[D(G(z))] on held-out "
     "data (WGAN, WGAN-GP runs only; comparable between runs of one loss and architecture)")
_add("reconstruction_mse", "Reconstruction MSE", "lower", "{:.4f}", "mean squared error per pixel of [0, 1] "
     "intensities between test images and their reconstructions (VAE: decoded posterior mean; autoencoder)")
_add("reconstruction_bce", "Reconstruction BCE (nats/image)", "lower", "{:.1f}", "binary cross-entropy of test "
     "images under their reconstructions, summed over pixels (the training loss's reconstruction term, on the "
     "test split; VAE, autoencoder)")
_add("conditional_accuracy", "Conditional accuracy", "higher", "{:.3f}", "domain-classifier accuracy on samples "
     "generated for requested labels (conditional architectures)")
_add("modes", "Modes captured", "higher", "{:.1f}", "mixture modes with ≥ 1 high-quality sample of "
     "evaluation.mixture_samples (PacGAN / VEEGAN: 2500); one stray sample counts: see the next table and the "
     "per-mode counts under Plots", kind="points")
_add("modes_reached", "Modes reached", "higher", "{:.1f}", "mixture modes holding ≥ evaluation.mode_min_share of a "
     "uniform share of the samples in high-quality samples (≥ share · N / K of N)", kind="points")
_add("hq_percent", "High-quality %", "higher", "{:.1f}", "samples within 3σ of their nearest mode", kind="points")
_add("reverse_kl", "Reverse KL", "lower", "{:.3f}", "KL(mode histogram ‖ uniform), high-quality samples",
     kind="points")

SCALE: dict[str, float] = {}  # display factors per metric (none at present)
