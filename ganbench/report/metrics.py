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
_add("classes_covered", "Classes covered", True, "{:.1f}", "classes with ≥ 1 generated sample (domain classifier)")
_add("class_kl", "Class KL", False, "{:.3f}", "KL(class histogram ‖ uniform)")
_add("modes", "Modes captured", True, "{:.1f}", "mixture modes with ≥ 1 high-quality sample (PacGAN)", kind="points")
_add("hq_percent", "High-quality %", True, "{:.1f}", "samples within 3σ of their nearest mode", kind="points")
_add("reverse_kl", "Reverse KL", False, "{:.3f}", "KL(mode histogram ‖ uniform), high-quality samples", kind="points")

SCALE: dict[str, float] = {}  # display factors per metric (none at present)
