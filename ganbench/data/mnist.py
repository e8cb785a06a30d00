"""MNIST and Fashion-MNIST (28×28 grey, 10 classes), and their stacked 3-channel, 1000-mode variants.

The four IDX files are fetched from the ``mirrors`` option and verified by the MD5 of their decompressed content,
so an official ``.gz`` and a recompressed copy of the same data (Debian's ``dataset-fashion-mnist``) both pass.

Stacked MNIST (Metz et al., Unrolled GANs, ICLR 2017; Srivastava et al., VEEGAN, NeurIPS 2017; Lin et al.,
PacGAN, NeurIPS 2018): each image stacks three independently drawn images of the base dataset as its R, G and B
channels, and its mode is ``100·r + 10·g + b`` for the three base labels, so there are 1000 modes. Training images
are drawn from the base training split and test images from the base test split, deterministically from ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ganbench.data.base import DATASETS, DatasetBuilder, Prepared
from ganbench.data.download import fetch, mirror_list
from ganbench.data.idx import read_idx
from ganbench.errors import ConfigError, DataError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def count_option(builder: DatasetBuilder, key: str, optional: bool = False) -> int | None:
    """A positive integer option of ``builder`` (or None when ``optional``); a ConfigError names the bad key."""
    value = builder.options[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer" + (" or null" if optional else "")
        raise ConfigError(f"datasets.{builder.name}.{key}: expected {allowed}, got {value!r}")
    return value


class IdxDataset(DatasetBuilder):
    """A dataset published as the four MNIST-format IDX files."""

    kind = "image"
    shape = (1, 28, 28)
    num_classes = 10
    cache_folder: ClassVar[str]  # sub-folder of the download cache
    # MD5 of each file's decompressed content (the raw IDX file); tests substitute their own fixtures' checksums
    checksums: ClassVar[dict[str, str]]
    mirror_hint: ClassVar[str] = ""
    source_options = ("mirrors",)

    def load_split(self, split: str, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """Fetch (if needed) and decode one split: uint8 N×1×28×28 images and int64 labels."""
        mirrors = mirror_list(self.options["mirrors"], f"datasets.{self.name}.mirrors")
        folder = Path(cache_dir) / self.cache_folder
        arrays = []
        for filename in SPLIT_FILES[split]:
            path = fetch(
                filename,
                mirrors,
                folder,
                decompressed_md5=self.checksums.get(filename),
                option=f"datasets.{self.name}.mirrors",
                hint=self.mirror_hint,
            )
            arrays.append(read_idx(path))
        images, labels = arrays
        size = tuple(self.shape[1:])
        if images.dtype != np.uint8 or images.shape[1:] != size or labels.shape != (len(images),):
            raise DataError(
                f"{self.name} {split} files hold images {images.dtype} {images.shape} and labels {labels.shape}; "
                f"expected uint8 N×{size[0]}×{size[1]} images and N labels"
            )
        return images[:, None, :, :], labels.astype(np.int64)


class IdxClassification(IdxDataset):
    """The dataset itself, optionally cut to its first ``train_limit`` / ``test_limit`` images."""

    def build(self, cache_dir: Path) -> Prepared:
        limits = {split: count_option(self, f"{split}_limit", optional=True) for split in SPLIT_FILES}
        x_train, y_train = self.load_split("train", cache_dir)
        x_test, y_test = self.load_split("test", cache_dir)
        return Prepared(
            x_train[: limits["train"]], y_train[: limits["train"]], x_test[: limits["test"]], y_test[: limits["test"]]
        )


FASHION_MIRRORS = [
    "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "file:///usr/share/datasets/fashion-mnist/",
]
# MD5 of the decompressed IDX files of the official release; they are the md5sums of `zcat` of the files in
# Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz), and agree with the raw-file checksums
# published alongside the dataset. (The official .gz checksums, which Debian's recompressed files do not match,
# are not used.)
FASHION_CHECKSUMS = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_HINT = (
    "On Debian/Ubuntu, `apt install dataset-fashion-mnist` puts the four files in /usr/share/datasets/fashion-mnist/ "
    "(mirror file:///usr/share/datasets/fashion-mnist/)."
)

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
# MD5 of the decompressed IDX files of the original MNIST release (train images: 47,040,016 bytes). They are the
# checksums of the content of the official .gz files, whose own MD5s (torchvision's `MNIST.resources`) are
# f68b3c2d…, d53e105e…, 9fb629c4…, ec29112d… in this order.
MNIST_CHECKSUMS = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


@DATASETS.register("fashion_mnist")
class FashionMNIST(IdxClassification):
    defaults: ClassVar[dict[str, Any]] = {"mirrors": FASHION_MIRRORS, "train_limit": None, "test_limit": None}
    cache_folder = "fashion-mnist"
    checksums = FASHION_CHECKSUMS
    mirror_hint = FASHION_HINT
    citation = "Xiao, Rasul and Vollgraf, Fashion-MNIST (arXiv:1708.07747, 2017)"
    class_names = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")


@DATASETS.register("mnist")
class MNIST(IdxClassification):
    defaults: ClassVar[dict[str, Any]] = {"mirrors": MNIST_MIRRORS, "train_limit": None, "test_limit": None}
    cache_folder = "mnist"
    checksums = MNIST_CHECKSUMS
    citation = "LeCun, Bottou, Bengio and Haffner, Gradient-based learning applied to document recognition (1998)"


def stacked_label(labels_rgb: np.ndarray) -> np.ndarray:
    """The stacked mode ``100·r + 10·g + b`` of base labels given along the last axis (…×3) as int64."""
    labels_rgb = np.asarray(labels_rgb, dtype=np.int64)
    if labels_rgb.shape[-1:] != (3,):
        raise ValueError(f"expected base labels with a last axis of 3 (R, G, B), got shape {labels_rgb.shape}")
    return labels_rgb @ np.array([100, 10, 1], dtype=np.int64)


class Stacked(DatasetBuilder):
    """Three base images as the R, G, B channels; 1000 modes."""

    kind = "image"
    shape = (3, 28, 28)
    num_classes = 1000
    base: ClassVar[type[IdxDataset]]  # builder of the base dataset; fetches into the same cache folder
    base_name: ClassVar[str]
    source_options = ("mirrors",)
    citation = "Metz et al., Unrolled GANs (ICLR 2017); Srivastava et al., VEEGAN (NeurIPS 2017)"

    def extra_meta(self) -> dict[str, Any]:
        return {"base_dataset": self.base_name}

    def build(self, cache_dir: Path) -> Prepared:
        sizes = {split: count_option(self, f"n_{split}") for split in SPLIT_FILES}
        seed = self.options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"datasets.{self.name}.seed: expected an integer, got {seed!r}")
        base = self.base(self.name, {"mirrors": self.options["mirrors"]})  # errors then name this dataset's key
        rng = np.random.default_rng(seed)
        arrays: list[np.ndarray] = []
        for split in SPLIT_FILES:
            images, labels = base.load_split(split, cache_dir)
            picks = rng.integers(0, len(images), size=(sizes[split], 3))
            arrays += [images[picks, 0], stacked_label(labels[picks])]  # (n, 3, 28, 28), (n,)
        return Prepared(*arrays)


@DATASETS.register("stacked_mnist")
class StackedMNIST(Stacked):
    defaults: ClassVar[dict[str, Any]] = {"mirrors": MNIST_MIRRORS, "n_train": 60_000, "n_test": 10_000, "seed": 0}
    base = MNIST
    base_name = "mnist"


@DATASETS.register("stacked_fashion_mnist")
class StackedFashionMNIST(Stacked):
    defaults: ClassVar[dict[str, Any]] = {"mirrors": FASHION_MIRRORS, "n_train": 60_000, "n_test": 10_000, "seed": 0}
    base = FashionMNIST
    base_name = "fashion_mnist"
