"""torch-fidelity's feature extractors, and the domain classifier registered with torch-fidelity.

Importing this module imports torch-fidelity (and with it torchvision: about a second of CPU) and registers the
domain classifier as ``ganbench-classifier``, so that torch-fidelity itself can compute metrics in its space::

    torch_fidelity.calculate_metrics(input1=..., input2=..., fid=True, feature_extractor="ganbench-classifier",
                                     feature_extractor_weights_path="results/classifier/<dataset>/model.pt")

The evaluation creates every extractor, the domain classifier included, through torch-fidelity's registry
(``create_feature_extractor``; ``ganbench.metrics.extractors``).
"""

from __future__ import annotations

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor

from ganbench.errors import ConfigError
from ganbench.metrics.classifier import load_classifier

CLASSIFIER = "ganbench-classifier"


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """The DomainClassifier behind torch-fidelity's interface: "features" (FID, KID, PRC) and "logits" (IS)."""

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
        feats, logits = self.model.infer(x)
        out = {"features": feats, "logits": logits}
        return tuple(out[name] for name in self.features_list)


if CLASSIFIER not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(CLASSIFIER, ClassifierFeatureExtractor)


class TorchFidelityNet:
    """A torch-fidelity extractor called with uint8 batches, returning {layer: features}."""

    def __init__(self, name: str, layers: list[str], weights_path: str, device: torch.device):
        self.net = create_feature_extractor(name, layers, cuda=device.type == "cuda",
                                            feature_extractor_weights_path=weights_path, verbose=False)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net.convert_features_tuple_to_dict(self.net(batch))

    @property
    def model(self):
        """The domain classifier inside the ganbench-classifier extractor (None for other extractors)."""
        return getattr(self.net, "model", None)
