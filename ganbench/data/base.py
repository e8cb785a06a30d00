"""The dataset interface: a registered builder turns options into one prepared, in-memory dataset.

``prepare`` is the only step that touches the network or raw files. It writes a single compact ``.npz`` (uint8
images N×C×H×W or float32 points N×D, int64 labels, and a JSON ``meta`` record); training and evaluation load that
file whole into memory with ``load_prepared``.

Every dataset also takes the options in ``COMMON_DEFAULTS``: ``val_size`` > 0 carves a validation split of that
many examples out of the train split (a fixed random choice, ``val_seed``), and every run of the dataset then trains
on the rest. A hyperparameter search selects on the validation split (``ganbench.search``) and reports the final
numbers on the test split, which selection never reads.
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
from ganbench.options import Range, resolve_options
from ganbench.registry import Registry
from ganbench.timing import process_cpu_seconds

DATASETS: Registry[type["DatasetBuilder"]] = Registry("dataset")

KINDS = ("image", "points")
# Options of every dataset, beside its own ``defaults``: the validation split carved out of the train split.
COMMON_DEFAULTS: dict[str, Any] = {"val_size": 0, "val_seed": 0}


@dataclass
class Prepared:
    """A dataset as training sees it. ``x_*``: uint8 N×C×H×W (images) or float32 N×D (points)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    x_val: np.ndarray | None = None  # the validation split (``val_size`` examples out of the train split), if any
    y_val: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.meta["shape"])

    @property
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes") or 0)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The images/points and labels of split ``name`` (train, val or test)."""
        x = getattr(self, f"x_{name}", None)
        if x is None:
            key = f"datasets.{self.meta.get('name', '<name>')}.val_size"
            raise DataError(f"dataset {self.meta.get('name')!r} has no {name!r} split"
                            + (f"; set {key} (examples held out of the train split) and prepare it again"
                               if name == "val" else ""))
        return x, getattr(self, f"y_{name}")

    def heldout(self, real_split: str) -> tuple[np.ndarray, np.ndarray]:
        """The held-out data an evaluation against ``real_split`` compares with: the validation split when it
        evaluates on it (a search's phase 1, which must not read the test split), else the test split."""
        return self.split("val" if real_split == "val" else "test")


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
        self.options = resolve_options({**self.defaults, **COMMON_DEFAULTS}, options, f"datasets.{name}",
                                       {"val_size": Range(0, integer=True), "val_seed": Range(0, integer=True)})

    def identity_options(self) -> dict[str, Any]:
        """The options that decide the prepared data: not where it is fetched from (``source_options``), and the
        common options only when set (a dataset without a validation split keeps the identity it always had)."""
        return {k: v for k, v in self.options.items()
                if k not in self.source_options and not (k in COMMON_DEFAULTS and v == COMMON_DEFAULTS[k])}

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
    data = carve_validation(builder.build(cache_dir), builder)
    data.meta = {**builder.meta(), **data.meta, "n_train": int(len(data.x_train)), "n_test": int(len(data.x_test))}
    if data.x_val is not None:
        data.meta["n_val"] = int(len(data.x_val))
    _check(data, builder)
    data.meta["fingerprint"] = content_fingerprint(data)
    data.meta["prepare_cpu_seconds"] = process_cpu_seconds()  # this process so far: start-up, download, decoding
    arrays = {f"{a}_{split}": getattr(data, f"{a}_{split}") for split in _splits(data) for a in ("x", "y")}
    arrays.update({k: v.astype(np.int64) for k, v in arrays.items() if k.startswith("y_")})
    with atomic_open(out_path, "wb") as handle:
        np.savez(handle, **arrays, meta=np.frombuffer(json.dumps(data.meta).encode(), dtype=np.uint8))
    return data


def carve_validation(data: Prepared, builder: DatasetBuilder) -> Prepared:
    """Move ``val_size`` examples of the train split, chosen at random by ``val_seed``, into the validation split
    (both keep their order); the data as built when ``val_size`` is 0."""
    n = int(builder.options["val_size"])
    if n == 0:
        return data
    if n >= len(data.x_train):
        raise DataError(f"datasets.{builder.name}.val_size: {n} validation examples leave nothing of the "
                        f"{len(data.x_train)} training examples; expected fewer")
    picked = np.zeros(len(data.x_train), dtype=bool)
    picked[np.random.default_rng(int(builder.options["val_seed"])).permutation(len(data.x_train))[:n]] = True
    return Prepared(data.x_train[~picked], data.y_train[~picked], data.x_test, data.y_test, data.meta,
                    data.x_train[picked], data.y_train[picked])


def _splits(data: Prepared) -> tuple[str, ...]:
    return ("train", "test") if data.x_val is None else ("train", "test", "val")


def content_fingerprint(data: Prepared) -> str:
    """SHA-256 (first 16 hex digits) of the arrays' bytes, shapes and dtypes: what a run trained on."""
    h = hashlib.sha256()
    for split in _splits(data):  # the validation split only when there is one: older fingerprints stay valid
        x, y = data.split(split)
        for array in (x, y.astype(np.int64)):
            array = np.ascontiguousarray(array)
            h.update(f"{array.dtype.str}{array.shape}".encode())
            h.update(array.data)
    return h.hexdigest()[:16]


def fingerprint(data: Prepared) -> str:
    """The prepared data's fingerprint (recorded by ``prepare``; computed for files prepared before it was)."""
    return data.meta.get("fingerprint") or content_fingerprint(data)


def _check(data: Prepared, builder: DatasetBuilder) -> None:
    want_dtype = np.uint8 if builder.kind == "image" else np.float32
    for split in _splits(data):
        x, y = data.split(split)
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
            val = (z["x_val"], z["y_val"]) if "x_val" in z.files else (None, None)
            return Prepared(z["x_train"], z["y_train"], z["x_test"], z["y_test"], meta, *val)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"prepared dataset {path} is unreadable ({exc}); delete it and prepare again") from exc
