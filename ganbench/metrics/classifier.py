"""The domain classifier: a small CNN trained once per image dataset on its train split.

Inception weights cannot be downloaded everywhere, so by default FID, KID and precision/recall use this network's
penultimate features and IS its logits (registered with torch-fidelity as ``ganbench-classifier``). Its test
accuracy is recorded and a run fails loudly when it is below the configured floor: features from a classifier that
cannot tell the classes apart make every distance meaningless. The same network labels generated images for class
coverage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import DataError
from ganbench.io import torch_save

FEATURE_DIM = 128


class DomainClassifier(nn.Module):
    """Two conv blocks and a 128-unit hidden layer; input uint8 N×C×H×W (or float in [0, 1])."""

    def __init__(self, in_channels: int, size: int, num_classes: int):
        super().__init__()
        self.hparams = {"in_channels": in_channels, "size": size, "num_classes": num_classes}
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.body(self.normalise(x))
        return feats, self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


@torch.no_grad()
def accuracy(model: DomainClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
    return correct / max(1, len(x))


def train_classifier(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                     num_classes: int, options: dict[str, Any]) -> tuple[DomainClassifier, dict[str, Any]]:
    torch.manual_seed(int(options["seed"]))
    model = DomainClassifier(x_train.shape[1], x_train.shape[2], num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=float(options["lr"]))
    batch = int(options["batch_size"])
    steps = max(1, round(float(options["epochs"]) * len(x_train) / batch))
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        if step % (len(x_train) // batch) == 0:
            order = torch.randperm(len(x_train))
        idx = order[(step % (len(x_train) // batch)) * batch:][:batch]
        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    info = {
        "test_accuracy": accuracy(model, x_test, y_test),
        "train_seconds": time.perf_counter() - start,
        "steps": steps,
        "options": dict(options),
        **model.hparams,
    }
    return model, info


def save_classifier(model: DomainClassifier, path: str | Path) -> None:
    torch_save({"hparams": model.hparams, "state": model.state_dict()}, path)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> DomainClassifier:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"classifier weights {path} do not exist; run the train_classifier rule first")
    blob = torch.load(path, map_location=device, weights_only=True)
    model = DomainClassifier(**blob["hparams"])
    model.load_state_dict(blob["state"])
    return model.to(device).eval()
