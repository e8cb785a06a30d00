"""Natural-image datasets: CIFAR-10 (downloaded) and CelebA at 64×64 (from a manually downloaded copy).

CIFAR-10 (Krizhevsky, 2009): the "python version" archive ``cifar-10-python.tar.gz`` holds
``cifar-10-batches-py/data_batch_1`` … ``data_batch_5`` (50,000 training images) and ``test_batch`` (10,000). Each
batch is a pickle, written by Python 2, of a dict with byte-string keys: ``b"data"`` (uint8 10000×3072, rows are
R, G, B planes of 32×32) and ``b"labels"`` (list of ints). That pickle is the official format, so it is read with
``encoding="bytes"`` through an unpickler that resolves only the NumPy names an array needs: a tampered archive
cannot make it import or call anything else. Members are read straight from the archive; nothing is extracted.

CelebA (Liu et al., ICCV 2015) is distributed from Google Drive and is not downloaded automatically. The
``root`` option names the ``img_align_celeba`` folder or ``img_align_celeba.zip``. Following the usual GAN
preprocessing, each 178×218 aligned image is centre-cropped to 140×140 and resized to 64×64. Images are numbered
000001.jpg … 202599.jpg; the official evaluation partition puts 182638 onwards in the test split, and the rest
(training and validation partitions) in the training split.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct  # NumPy >= 2
except ImportError:  # pragma: no cover (NumPy 1)
    from numpy.core.multiarray import _reconstruct

from ganbench.data.base import DATASETS, DatasetBuilder, Prepared
from ganbench.data.download import fetch, mirror_list
from ganbench.data.mnist import count_option
from ganbench.errors import ConfigError, DataError


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if name == "_reconstruct" and module in {"numpy.core.multiarray", "numpy._core.multiarray"}:
            return _reconstruct  # NumPy 1 pickles name numpy.core, NumPy 2 pickles numpy._core
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset pickle")


def _load_batch(archive: tarfile.TarFile, member: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        handle = archive.extractfile(member)
        if handle is None:
            raise KeyError(member)
        batch = _ArrayUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"{source} lacks {exc} (expected the official cifar-10-python layout)") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, OSError) as exc:
        raise DataError(f"{source}: cannot read {member}: {exc}") from exc
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"{source}: {member} holds data {data.shape} and {len(labels)} labels, expected N×3072 and N")
    return data.reshape(-1, 3, 32, 32), labels


@DATASETS.register("cifar10")
class CIFAR10(DatasetBuilder):
    kind = "image"
    shape = (3, 32, 32)
    num_classes = 10
    defaults: ClassVar[dict[str, Any]] = {
        "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
        "train_limit": None,
        "test_limit": None,
    }
    source_options = ("mirrors",)
    citation = "Krizhevsky, Learning multiple layers of features from tiny images (2009)"
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    archive = "cifar-10-python.tar.gz"
    checksum = "c58f30108f718f92721af3b95e74349a"  # MD5 of the archive, as published on the CIFAR page
    folder = "cifar-10-batches-py"
    train_batches = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_batches = ("test_batch",)

    def build(self, cache_dir: Path) -> Prepared:
        limits = {split: count_option(self, f"{split}_limit", optional=True) for split in ("train", "test")}
        key = f"datasets.{self.name}.mirrors"
        mirrors = mirror_list(self.options["mirrors"], key)
        path = fetch(self.archive, mirrors, Path(cache_dir) / "cifar10", md5=self.checksum, option=key)
        try:
            with tarfile.open(path, "r:gz") as archive:
                splits = {
                    split: [_load_batch(archive, f"{self.folder}/{name}", str(path)) for name in batches]
                    for split, batches in (("train", self.train_batches), ("test", self.test_batches))
                }
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path} is not a readable tar.gz archive ({exc}); delete it and prepare again") from exc
        arrays = []
        for split, batches in splits.items():
            arrays += [np.concatenate([x for x, _ in batches])[: limits[split]]]
            arrays += [np.concatenate([y for _, y in batches])[: limits[split]]]
        return Prepared(*arrays)


CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
CELEBA_FIRST_TEST = 182638  # first image of the official test partition (list_eval_partition.txt)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def center_crop_resize(image: Any, crop: int, size: int) -> np.ndarray:
    """Centre-crop a PIL image to ``crop``×``crop``, resize it to ``size``×``size``; return uint8 3×size×size."""
    from PIL import Image

    image = image.convert("RGB")
    width, height = image.size
    if width < crop or height < crop:
        raise ValueError(f"image of {width}×{height} is smaller than the {crop}×{crop} crop")
    left, top = (width - crop) // 2, (height - crop) // 2
    image = image.crop((left, top, left + crop, top + crop)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


@DATASETS.register("celeba64")
class CelebA64(DatasetBuilder):
    kind = "image"
    shape = (3, 64, 64)
    num_classes = 0
    defaults: ClassVar[dict[str, Any]] = {"root": None, "limit": None}
    citation = "Liu, Luo, Wang and Tang, Deep learning face attributes in the wild (ICCV 2015)"
    crop = 140

    def _root(self) -> Path:
        key = f"datasets.{self.name}.root"
        root = self.options["root"]
        if root is not None and not isinstance(root, str):
            raise ConfigError(f"{key}: expected a path (string), got {root!r}")
        path = Path(root).expanduser() if root else None
        if path is None or not path.exists():
            where = f"{path} does not exist" if path else "no copy is configured"
            raise DataError(
                f"CelebA is not downloaded automatically and {where}. Download 'Align&Cropped Images' "
                f"(img_align_celeba.zip) from {CELEBA_URL} (Google Drive link there), then set {key} in the config "
                "to the unzipped img_align_celeba folder or to the zip file itself."
            )
        return path

    @staticmethod
    @contextlib.contextmanager
    def _reader(root: Path) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
        """Yield the image names in the folder or zip ``root``, sorted, and a function reading one's bytes."""
        if root.is_dir():
            names = sorted(p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            yield names, lambda name: (root / name).read_bytes()
            return
        with zipfile.ZipFile(root) as archive:
            names = sorted(n for n in archive.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
            yield names, archive.read

    def build(self, cache_dir: Path) -> Prepared:
        from PIL import Image

        limit = count_option(self, "limit", optional=True)
        root = self._root()
        splits: dict[str, list[np.ndarray]] = {"train": [], "test": []}
        try:
            with self._reader(root) as (names, read):
                chosen: dict[str, list[str]] = {"train": [], "test": []}
                for name in names:
                    stem = Path(name).stem
                    split = "test" if stem.isdigit() and int(stem) >= CELEBA_FIRST_TEST else "train"
                    if limit is None or len(chosen[split]) < limit:
                        chosen[split].append(name)
                for split, selected in chosen.items():
                    for name in selected:
                        with Image.open(io.BytesIO(read(name))) as image:
                            splits[split].append(center_crop_resize(image, self.crop, self.shape[-1]))
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read CelebA images from {root}: {exc}") from exc
        if not splits["train"]:
            raise DataError(f"no training images (*.jpg, *.png) found in {root}")
        arrays = []
        for images in splits.values():
            x = np.stack(images) if images else np.zeros((0, *self.shape), dtype=np.uint8)
            arrays += [x, np.zeros(len(x), dtype=np.int64)]
        return Prepared(*arrays)
