"""Feature extractors for torch-fidelity, selectable by name in ``evaluation.feature_extractor``.

``ganbench-classifier`` (default, offline) wraps the per-dataset DomainClassifier in torch-fidelity's
``FeatureExtractorBase`` and registers it with ``torch_fidelity.register_feature_extractor``; torch-fidelity's own
``inception-v3-compat`` (standard FID, comparable with papers) is used when the config gives its weights file.
Every extractor takes uint8 N×C×H×W; grayscale is repeated to RGB for extractors that expect three channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor

from ganbench.errors import ConfigError
from ganbench.metrics.classifier import load_classifier

CLASSIFIER = "ganbench-classifier"


class ClassifierFeatureExtractor(FeatureExtractorBase):
    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ConfigError("evaluation: the ganbench-classifier extractor needs the trained classifier's weights")
        self.model = load_classifier(feature_extractor_weights_path)

    @staticmethod
    def get_provided_features_list():
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"fid": "features", "kid": "features", "prc": "features", "isc": "logits"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        feats, logits = self.model.features_and_logits(x)
        out = {"features": feats, "logits": logits}
        return tuple(out[name] for name in self.features_list)


if CLASSIFIER not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(CLASSIFIER, ClassifierFeatureExtractor)


@dataclass(frozen=True)
class ExtractorSpec:
    """Which layer each metric uses, and whether the extractor wants RGB input."""

    fid_layer: str
    isc_layer: str
    rgb: bool


SPECS = {
    CLASSIFIER: ExtractorSpec("features", "logits", rgb=False),
    "inception-v3-compat": ExtractorSpec("2048", "logits_unbiased", rgb=True),
}


class Extractor:
    """A torch-fidelity feature extractor plus the metric→layer mapping, fed uint8 batches."""

    def __init__(self, name: str, weights_path: str | None, device: torch.device):
        if name not in SPECS:
            raise ConfigError(f"evaluation.feature_extractor: unknown {name!r}; expected one of {', '.join(SPECS)}")
        if name != CLASSIFIER and weights_path is None:
            raise ConfigError(f"evaluation.feature_extractor_weights: {name} needs a local weights file (it cannot "
                              "be downloaded here); give its path, or use ganbench-classifier")
        self.name = name
        self.spec = SPECS[name]
        self.device = device
        layers = list(dict.fromkeys([self.spec.fid_layer, self.spec.isc_layer]))
        self.layers = layers
        self.net = create_feature_extractor(name, layers, cuda=device.type == "cuda",
                                            feature_extractor_weights_path=weights_path, verbose=False)

    @torch.no_grad()
    def __call__(self, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        for batch in batches:
            if self.spec.rgb and batch.shape[1] == 1:
                batch = batch.expand(-1, 3, -1, -1)
            feats = self.net.convert_features_tuple_to_dict(self.net(batch.to(self.device)))
            for layer in self.layers:
                out[layer].append(feats[layer].float().cpu())
        return {"fid": torch.cat(out[self.spec.fid_layer]), "isc": torch.cat(out[self.spec.isc_layer])}
