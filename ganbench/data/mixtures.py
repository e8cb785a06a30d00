"""2-D mixtures of Gaussians for the mode-collapse study (PacGAN / VEEGAN protocol).

ring8: 8 modes evenly spaced on the unit circle, σ = 0.01. grid25: means {-4,-2,0,2,4}², σ = 0.05. Points are
drawn deterministically from ``seed``; each label is the index of the mode a point was drawn from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ganbench.data.base import DATASETS, DatasetBuilder, Prepared


class GaussianMixture(DatasetBuilder):
    kind = "points"
    shape = (2,)
    sigma: ClassVar[float]
    defaults: ClassVar[dict[str, Any]] = {"n_train": 100_000, "n_test": 25_000, "seed": 0}
    citation = "Lin et al., PacGAN (NeurIPS 2018); Srivastava et al., VEEGAN (NeurIPS 2017)"

    @classmethod
    def centers(cls) -> np.ndarray:
        raise NotImplementedError

    def extra_meta(self) -> dict[str, Any]:
        return {"centers": self.centers().tolist(), "sigma": self.sigma}

    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        centers = self.centers()
        labels = rng.integers(0, len(centers), size=n)
        points = centers[labels] + self.sigma * rng.standard_normal((n, 2))
        return points.astype(np.float32), labels.astype(np.int64)

    def build(self, cache_dir: Path) -> Prepared:
        rng = np.random.default_rng(int(self.options["seed"]))
        x_train, y_train = self._sample(int(self.options["n_train"]), rng)
        x_test, y_test = self._sample(int(self.options["n_test"]), rng)
        return Prepared(x_train, y_train, x_test, y_test)


@DATASETS.register("ring8")
class Ring8(GaussianMixture):
    num_classes = 8
    sigma = 0.01

    @classmethod
    def centers(cls) -> np.ndarray:
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)


@DATASETS.register("grid25")
class Grid25(GaussianMixture):
    num_classes = 25
    sigma = 0.05

    @classmethod
    def centers(cls) -> np.ndarray:
        ticks = np.arange(-4.0, 5.0, 2.0)
        return np.array([(a, b) for a in ticks for b in ticks])
