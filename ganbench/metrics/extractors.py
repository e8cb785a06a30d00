"""Feature extractors, selectable by name, and the one-pass pipeline that feeds them.

``ganbench-classifier`` (default, offline) is the per-dataset DomainClassifier, registered with torch-fidelity
(``ganbench.metrics.torch_fidelity_extractors``) and created through its registry like torch-fidelity's own
``inception-v3-compat`` (standard FID/KID/IS, comparable with papers) and ``vgg16`` (the precision/recall network of
Kynkäänniemi et al.), which load their weights from a local file: the one the config gives, or the one the
pipeline downloaded into results/weights when online (``ganbench.weights``):

- ``evaluation.feature_extractor`` (+ ``feature_extractor_weights``): FID, KID, IS (and, by default, the
  precision/recall/density/coverage features);
- ``evaluation.prc_feature_extractor: vgg16`` (+ ``prc_feature_extractor_weights``; giving the weights alone implies
  vgg16): precision, recall, density and coverage use VGG16's fc2 features (after ReLU) instead.

Every extractor takes uint8 N×C×H×W; grayscale is repeated to RGB for extractors that expect three channels. On a
stacked dataset (three base images as R, G, B) the domain classifier is applied per channel: its features are the
three channels' features concatenated (3×128) and its logits the 1000-way joint log-probabilities, so FID, KID and
precision/recall compare per-channel content and IS/class coverage count the 1000 modes. (Inception and VGG16 take
the stacked image as an RGB picture.)

``FeaturePipeline`` runs one pass of generated (or real) batches through every network the metrics need: the
main extractor, the precision/recall extractor when it is another one, and the domain classifier (labels for
class/mode coverage, features for the memorization check) when it is not the main extractor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch

from ganbench.errors import ConfigError

CLASSIFIER = "ganbench-classifier"
PRC_EXTRACTOR = "vgg16"

# What the pipeline produces, by role: the metric families that read each.
FID = "fid"  # FID and KID features
ISC = "isc"  # Inception Score logits
PRC = "prc"  # precision, recall, density, coverage features
CLASS_FEATURES = "classifier_features"  # domain-classifier features (memorization check)
CLASS_LOGITS = "classifier_logits"  # domain-classifier logits (class coverage, stacked modes)


@dataclass(frozen=True)
class ExtractorSpec:
    """The torch-fidelity layer behind each output ("features", "logits"), and whether it wants RGB input."""

    layers: dict[str, str]
    rgb: bool


SPECS = {
    CLASSIFIER: ExtractorSpec({"features": "features", "logits": "logits"}, rgb=False),
    "inception-v3-compat": ExtractorSpec({"features": "2048", "logits": "logits_unbiased"}, rgb=True),
    PRC_EXTRACTOR: ExtractorSpec({"features": "fc2_relu"}, rgb=True),
}
MAIN_EXTRACTORS = (CLASSIFIER, "inception-v3-compat")  # those with logits (IS needs them)


def check_options(options: dict[str, Any]) -> None:
    """Fail early, naming the key, on an unknown extractor or a weights file that is given but absent (weights
    left out are downloaded by the pipeline, ``ganbench.weights``)."""
    name = options["feature_extractor"]
    if name not in MAIN_EXTRACTORS:
        raise ConfigError(f"evaluation.feature_extractor: unknown {name!r}; expected one of "
                          f"{', '.join(MAIN_EXTRACTORS)}")
    prc = options.get("prc_feature_extractor")
    if prc not in (None, PRC_EXTRACTOR):
        raise ConfigError(f"evaluation.prc_feature_extractor: unknown {prc!r}; expected {PRC_EXTRACTOR} or null")
    weights = {"feature_extractor_weights": options.get("feature_extractor_weights") if name != CLASSIFIER else None,
               "prc_feature_extractor_weights": options.get("prc_feature_extractor_weights")}
    for key, path in weights.items():
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"evaluation.{key}: weights file {path} does not exist")


class Extractor:
    """One feature network (the domain classifier, or a torch-fidelity extractor) plus its output→layer mapping,
    fed uint8 batches."""

    def __init__(self, name: str, weights_path: str | None, device: torch.device):
        if name not in SPECS:
            raise ConfigError(f"evaluation.feature_extractor: unknown {name!r}; expected one of {', '.join(SPECS)}")
        if weights_path is None:
            from ganbench.weights import WEIGHTS

            raise ConfigError("evaluation: the ganbench-classifier extractor needs the trained domain classifier "
                              "(--classifier)" if name == CLASSIFIER else
                              f"{WEIGHTS[name].key}: the {name} extractor needs its weights file; give a local copy "
                              f"there, or let the pipeline download it (`ganbench download-weights --config C "
                              f"--extractor {name}`, then --weights/--prc-weights), or use ganbench-classifier")
        self.name = name
        self.spec = SPECS[name]
        self.device = device
        self.outputs = tuple(self.spec.layers)
        self.layers = list(dict.fromkeys(self.spec.layers[o] for o in self.outputs))
        # every extractor, the domain classifier included, is created through torch-fidelity's registry (imported
        # here: a job on 2-D points never needs torch-fidelity, whose import costs about a second)
        from ganbench.metrics.torch_fidelity_extractors import TorchFidelityNet

        self.net = TorchFidelityNet(name, self.layers, weights_path, device)

    @torch.no_grad()
    def run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The outputs for one uint8 batch, as float32 on the CPU."""
        if self.spec.rgb and batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        feats = self.net(batch.to(self.device))
        return {o: feats[self.spec.layers[o]].float().cpu() for o in self.outputs}

    def __call__(self, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
        parts = [self.run(batch) for batch in batches]
        return {o: torch.cat([p[o] for p in parts]) for o in self.outputs}


@dataclass
class FeaturePipeline:
    """Every network the metrics need, each loaded once; one pass over the batches fills every role.

    ``roles`` maps a role (``FID`` …) to (extractor key, output); roles are absent when they do not apply
    (no classifier for the dataset).
    """

    extractors: dict[str, Extractor] = field(default_factory=dict)
    roles: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, options: dict[str, Any], classifier_path: str | None, device: torch.device
              ) -> "FeaturePipeline":
        check_options(options)
        main = options["feature_extractor"]
        pipe = cls()
        if classifier_path is not None:
            pipe.add(CLASSIFIER, str(classifier_path), device, {CLASS_FEATURES: "features", CLASS_LOGITS: "logits"})
        weights = options["feature_extractor_weights"]
        if main == CLASSIFIER:
            weights = None if classifier_path is None else str(classifier_path)
        pipe.add(main, weights, device, {FID: "features", ISC: "logits"})
        if options.get("prc_feature_extractor") or options.get("prc_feature_extractor_weights"):
            pipe.add(PRC_EXTRACTOR, options.get("prc_feature_extractor_weights"), device, {PRC: "features"})
        else:
            pipe.roles[PRC] = pipe.roles[FID]
        return pipe

    def add(self, name: str, weights: str | None, device: torch.device, roles: dict[str, str]) -> None:
        if name not in self.extractors:
            self.extractors[name] = Extractor(name, weights, device)
        for role, output in roles.items():
            self.roles[role] = (name, output)

    @property
    def main_name(self) -> str:
        return self.roles[FID][0]

    def __call__(self, batches: Iterable[torch.Tensor], roles: Iterable[str] | None = None,
                 head: int | None = None) -> dict[str, torch.Tensor]:
        """Features of every role in ``roles`` (default: all) for the samples in ``batches``; with ``head``, only
        ``CLASS_LOGITS`` is computed past the first ``head`` samples (labels of a longer sample for mode counts)."""
        wanted = [r for r in (roles or self.roles) if r in self.roles]
        out: dict[str, list[torch.Tensor]] = {r: [] for r in wanted}
        seen = 0
        for batch in batches:
            cut = len(batch) if head is None else max(0, min(len(batch), head - seen))
            pieces = [(batch[:cut], wanted), (batch[cut:], [r for r in wanted if r == CLASS_LOGITS])]
            for part, part_roles in pieces:
                if len(part) and part_roles:
                    results = {name: self.extractors[name].run(part)
                               for name in dict.fromkeys(self.roles[r][0] for r in part_roles)}
                    for r in part_roles:
                        name, output = self.roles[r]
                        out[r].append(results[name][output])
            seen += len(batch)
        return {r: torch.cat(v) for r, v in out.items() if v}
