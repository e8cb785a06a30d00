"""The dataset interface: a registered builder turns options into one prepared, in-memory dataset.

``prepare`` is the only step that touches the network or raw files. It writes a single compact ``.npz`` (uint8
images N×C×H×W or float32 points N×D, int64 labels, and a JSON ``meta`` record); training and evaluation load that
file whole into memory with ``load_prepared``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ganbench.errors import DataError
from ganbench.io import atomic_open
from ganbench.options import resolve_options
from ganbench.registry import Registry
from ganbench.timing import process_cpu_seconds

DATASETS: Registry[type["DatasetBuilder"]] = Registry("dataset")

KINDS = ("image", "points")


@dataclass
class Prepared:
    """A dataset as training sees it. ``x_*``: uint8 N×C×H×W (images) or float32 N×D (points)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.meta["shape"])

    @property
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes") or 0)


class DatasetBuilder(ABC):
    """Base class of every dataset. Subclasses set the class attributes and implement ``build``.

    ``defaults`` lists every option the dataset accepts with its default value; an option outside it is a
    ConfigError naming ``datasets.<name>.<option>``.
    """

    kind: ClassVar[str]  # "image" or "points"
    shape: ClassVar[tuple[int, ...]]  # (C, H, W) or (D,)
    num_classes: ClassVar[int]  # classes (labelled images) or modes (mixtures); 0 if unlabelled
    defaults: ClassVar[dict[str, Any]] = {}
    # options that say where to fetch the data from, not what it is (the content is verified by checksum): they
    # are no part of the prepared data's identity, so changing a mirror prepares nothing again
    source_options: ClassVar[tuple[str, ...]] = ()
    citation: ClassVar[str] = ""
    class_names: ClassVar[tuple[str, ...]] = ()  # label i's name, for the report's captions (empty: "class i")

    def __init__(self, name: str, options: dict[str, Any] | None = None):
        self.name = name
        self.options = resolve_options(self.defaults, options, f"datasets.{name}")

    @abstractmethod
    def build(self, cache_dir: Path) -> Prepared:
        """Download (into ``cache_dir``) or generate the data and return it; ``meta`` is filled in by ``prepare``."""

    def extra_meta(self) -> dict[str, Any]:
        """Dataset-specific facts the metrics need (e.g. mixture centres and σ)."""
        return {}

    def meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "builder": type(self).__name__,
            "kind": self.kind,
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "options": self.options,
            **self.extra_meta(),
        }


def make_builder(name: str, options: dict[str, Any] | None = None, registry_name: str | None = None) -> DatasetBuilder:
    """Instantiate the builder registered as ``registry_name`` (default: ``name``)."""
    cls = DATASETS.get(registry_name or name, key=f"datasets.{name}")
    return cls(name, options)


def prepare_dataset(builder: DatasetBuilder, out_path: str | Path, cache_dir: str | Path) -> Prepared:
    """Build the dataset and write it atomically to ``out_path`` (.npz)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = builder.build(cache_dir)
    data.meta = {**builder.meta(), **data.meta, "n_train": int(len(data.x_train)), "n_test": int(len(data.x_test))}
    _check(data, builder)
    data.meta["fingerprint"] = content_fingerprint(data)
    data.meta["prepare_cpu_seconds"] = process_cpu_seconds()  # this process so far: start-up, download, decoding
    with atomic_open(out_path, "wb") as handle:
        np.savez(
            handle,
            x_train=data.x_train,
            y_train=data.y_train.astype(np.int64),
            x_test=data.x_test,
            y_test=data.y_test.astype(np.int64),
            meta=np.frombuffer(json.dumps(data.meta).encode(), dtype=np.uint8),
        )
    return data


def content_fingerprint(data: Prepared) -> str:
    """SHA-256 (first 16 hex digits) of the arrays' bytes, shapes and dtypes: what a run trained on."""
    h = hashlib.sha256()
    for array in (data.x_train, data.y_train.astype(np.int64), data.x_test, data.y_test.astype(np.int64)):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(array.data)
    return h.hexdigest()[:16]


def fingerprint(data: Prepared) -> str:
    """The prepared data's fingerprint (recorded by ``prepare``; computed for files prepared before it was)."""
    return data.meta.get("fingerprint") or content_fingerprint(data)


def _check(data: Prepared, builder: DatasetBuilder) -> None:
    want_dtype = np.uint8 if builder.kind == "image" else np.float32
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.dtype != want_dtype or tuple(x.shape[1:]) != tuple(builder.shape) or len(x) != len(y):
            raise DataError(
                f"dataset {builder.name!r} {split} split has dtype {x.dtype}, shape {x.shape} and {len(y)} labels; "
                f"expected {np.dtype(want_dtype)} N×{'×'.join(map(str, builder.shape))} with N labels"
            )


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"prepared dataset {path} does not exist; run `ganbench prepare` (or snakemake) first")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            return Prepared(z["x_train"], z["y_train"], z["x_test"], z["y_test"], meta)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"prepared dataset {path} is unreadable ({exc}); delete it and prepare again") from exc
