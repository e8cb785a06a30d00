"""Datasets: mirrors and checksums, IDX / CIFAR / CelebA readers, stacked and mixture datasets.

Everything runs on real files: Debian's Fashion-MNIST in /usr/share/datasets/fashion-mnist/ (package
``dataset-fashion-mnist``; those tests are skipped without it, and fail under CI: conftest.fmnist_mirror) and small
fixtures written here in the official formats, served through file:// URLs, plain folders and a local HTTP server.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import ganbench  # noqa: F401  (before any torchvision import)
from conftest import FMNIST_MIRROR as FASHION_DIR
from ganbench.data import load_prepared, make_builder, prepare_dataset
from ganbench.data.cifar10 import CIFAR10
from ganbench.data.download import fetch
from ganbench.data.idx import decode_idx, encode_idx, read_idx
from ganbench.data.mixtures import Grid25, Ring8
from ganbench.data.mnist import FASHION_CHECKSUMS, SPLIT_FILES, FashionMNIST, stacked_label
from ganbench.errors import ConfigError, DataError

needs_fashion = pytest.mark.usefixtures("fmnist_mirror")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temp files a failed write might have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-")) if folder.exists() else []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature of the base class)
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder and the http://127.0.0.1:<port>/ URL that serves it."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_idx_mirror(folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four MNIST-format .gz files of a tiny random dataset; return the arrays by file name."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images_file, labels_file = SPLIT_FILES[split]
        arrays[images_file] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[labels_file] = (np.arange(n) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        (folder / name).write_bytes(gzip.compress(encode_idx(array)))
    return arrays


def idx_checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {name: md5(encode_idx(array)) for name, array in arrays.items()}


# ----------------------------------------------------------------------------------------------- real Fashion-MNIST


@needs_fashion
def test_fashion_mnist_from_file_mirror(fmnist_cache: Path, tmp_path: Path) -> None:
    builder = make_builder("fashion_mnist", {"mirrors": ["http://127.0.0.1:%d/" % closed_port()]})
    data = prepare_dataset(builder, tmp_path / "fashion.npz", fmnist_cache)  # cached files verify: no download
    loaded = load_prepared(tmp_path / "fashion.npz")
    for d in (data, loaded):
        assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
        assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
        assert np.array_equal(np.bincount(d.y_train), np.full(10, 6000))
        assert np.array_equal(np.bincount(d.y_test), np.full(10, 1000))
    assert loaded.meta["num_classes"] == 10 and loaded.shape == (1, 28, 28) and loaded.kind == "image"
    assert np.array_equal(loaded.x_train, data.x_train)
    for name, checksum in FASHION_CHECKSUMS.items():  # the cache holds verified copies
        assert md5(gzip.decompress((fmnist_cache / "fashion-mnist" / name).read_bytes())) == checksum


@needs_fashion
def test_fashion_checksum_is_enforced(tmp_path: Path) -> None:
    name = "train-labels-idx1-ubyte.gz"
    wrong = "0" * 32
    with pytest.raises(DataError) as err:
        fetch(name, [FASHION_DIR.as_uri()], tmp_path, decompressed_md5=wrong)
    assert name in str(err.value) and wrong in str(err.value) and FASHION_CHECKSUMS[name] in str(err.value)
    assert list(tmp_path.iterdir()) == []


@needs_fashion
def test_limits(fmnist_cache: Path) -> None:
    options = {"mirrors": [FASHION_DIR.as_uri()], "train_limit": 100, "test_limit": 7}
    data = make_builder("fashion_mnist", options).build(fmnist_cache)
    full = read_idx(fmnist_cache / "fashion-mnist" / "train-images-idx3-ubyte.gz")
    assert data.x_train.shape == (100, 1, 28, 28) and len(data.y_test) == 7
    assert np.array_equal(data.x_train[:, 0], full[:100])


# ------------------------------------------------------------------------------------------------- mirrors, fetch


def test_http_mirror(http_root: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, url = http_root
    arrays = write_idx_mirror(root)
    monkeypatch.setattr(FashionMNIST, "checksums", idx_checksums(arrays))
    data = make_builder("fashion_mnist", {"mirrors": [url]}).build(tmp_path / "cache")
    assert np.array_equal(data.x_train[:, 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
    assert data.x_test.shape == (10, 1, 28, 28)
    # a verified file in the cache is used as is: the mirror is not contacted again
    for name in arrays:
        (root / name).unlink()
    again = make_builder("fashion_mnist", {"mirrors": [url]}).build(tmp_path / "cache")
    assert np.array_equal(again.x_train, data.x_train)


def test_checksum_mismatch_then_next_mirror(http_root: tuple[Path, str], tmp_path: Path) -> None:
    root, url = http_root
    name = "train-labels-idx1-ubyte.gz"
    good_raw, bad_raw = encode_idx(np.arange(10, dtype=np.uint8)), encode_idx(np.ones(10, dtype=np.uint8))
    (root / name).write_bytes(gzip.compress(bad_raw))
    good_dir = tmp_path / "good"
    good_dir.mkdir()
    (good_dir / name).write_bytes(gzip.compress(good_raw))
    dest = tmp_path / "dest"

    with pytest.raises(DataError) as err:
        fetch(name, [url], dest, decompressed_md5=md5(good_raw))
    message = str(err.value)
    assert name in message and url + name in message and md5(good_raw) in message and md5(bad_raw) in message
    assert not (dest / name).exists() and leftovers(dest) == []

    path = fetch(name, [url, str(good_dir)], dest, decompressed_md5=md5(good_raw))  # a plain folder as 2nd mirror
    assert path == dest / name and gzip.decompress(path.read_bytes()) == good_raw and leftovers(dest) == []

    # md5 of the file as served (a .gz without decompressed_md5, or any other file)
    with pytest.raises(DataError, match="expected md5 " + "f" * 32):
        fetch(name, [url], tmp_path / "other", md5="f" * 32)
    assert fetch(name, [url], tmp_path / "other", md5=md5((root / name).read_bytes())).is_file()


def test_cached_file_with_wrong_checksum_is_fetched_again(tmp_path: Path) -> None:
    name = "t10k-labels-idx1-ubyte.gz"
    raw = encode_idx(np.arange(5, dtype=np.uint8))
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    mirror.mkdir(), dest.mkdir()
    (mirror / name).write_bytes(gzip.compress(raw))
    (dest / name).write_bytes(gzip.compress(b"stale"))
    assert gzip.decompress(fetch(name, [mirror.as_uri()], dest, decompressed_md5=md5(raw)).read_bytes()) == raw


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    name = "train-images-idx3-ubyte.gz"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    whole = gzip.compress(encode_idx(np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    (mirror / name).write_bytes(whole[: len(whole) // 2])
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="truncated gzip") as err:
        fetch(name, [mirror.as_uri() + "/"], dest)  # no checksum known: the gzip stream itself must be complete
    assert name in str(err.value)
    assert not (dest / name).exists() and leftovers(dest) == []
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(mirror / name)


def test_all_mirrors_unreachable(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/"
    missing = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(DataError) as err:
        make_builder("fashion_mnist", {"mirrors": [dead, missing]}).build(tmp_path / "cache")
    message = str(err.value)
    assert dead + "train-images-idx3-ubyte.gz" in message and missing + "train-images-idx3-ubyte.gz" in message
    assert "datasets.fashion_mnist.mirrors" in message and "file:///usr/share/datasets/fashion-mnist/" in message
    assert "dataset-fashion-mnist" in message
    assert not any((tmp_path / "cache" / "fashion-mnist").iterdir())


def test_bad_mirror_option() -> None:
    with pytest.raises(ConfigError, match=r"datasets\.fashion_mnist\.mirrors"):
        make_builder("fashion_mnist", {"mirrors": []}).build(Path("unused"))


# ------------------------------------------------------------------------------------------------------------- IDX


def test_idx_round_trip_and_errors() -> None:
    for array in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.array([1.5, -2.0], dtype=np.float32)):
        decoded = decode_idx(encode_idx(array))
        assert decoded.dtype == array.dtype and np.array_equal(decoded, array)
    with pytest.raises(DataError, match="not an IDX file"):
        decode_idx(b"\x1f\x8b\x08\x00")
    with pytest.raises(DataError, match="should be"):
        decode_idx(encode_idx(np.zeros((2, 2), np.uint8))[:-1])


# ------------------------------------------------------------------------------------------------------- mixtures


def test_mixtures() -> None:
    ring = make_builder("ring8", {"n_train": 4000, "n_test": 800, "seed": 3})
    data = ring.build(Path("unused"))
    assert data.x_train.shape == (4000, 2) and data.x_train.dtype == np.float32 and data.x_test.shape == (800, 2)
    centers = Ring8.centers()
    assert centers.shape == (8, 2) and np.allclose(np.linalg.norm(centers, axis=1), 1.0)
    assert np.allclose(centers[2], [0.0, 1.0], atol=1e-12)
    residual = data.x_train - centers[data.y_train]
    assert ring.meta()["sigma"] == 0.01 and abs(residual.std() - 0.01) < 0.001
    assert set(np.unique(data.y_train)) == set(range(8))

    grid = make_builder("grid25", {"n_train": 5000, "n_test": 10, "seed": 3})
    g = grid.build(Path("unused"))
    assert Grid25.centers().shape == (25, 2) and sorted(set(Grid25.centers().ravel())) == [-4, -2, 0, 2, 4]
    assert grid.meta()["sigma"] == 0.05 and abs((g.x_train - Grid25.centers()[g.y_train]).std() - 0.05) < 0.005
    assert grid.meta()["num_classes"] == 25 and len(grid.meta()["centers"]) == 25

    again = make_builder("ring8", {"n_train": 4000, "n_test": 800, "seed": 3}).build(Path("unused"))
    other = make_builder("ring8", {"n_train": 4000, "n_test": 800, "seed": 4}).build(Path("unused"))
    assert np.array_equal(again.x_train, data.x_train) and np.array_equal(again.y_test, data.y_test)
    assert not np.array_equal(other.x_train, data.x_train)


# -------------------------------------------------------------------------------------------------------- stacked


def test_stacked_label() -> None:
    assert stacked_label([3, 1, 4]) == 314
    assert stacked_label(np.array([[0, 0, 0], [9, 9, 9], [0, 5, 2]])).tolist() == [0, 999, 52]
    with pytest.raises(ValueError):
        stacked_label([1, 2])


@needs_fashion
def test_stacked_fashion_mnist(fmnist_cache: Path) -> None:
    options = {"mirrors": [FASHION_DIR.as_uri()], "n_train": 3000, "n_test": 200, "seed": 5}
    builder = make_builder("stacked_fashion_mnist", options)
    data = builder.build(fmnist_cache)
    assert data.x_train.shape == (3000, 3, 28, 28) and data.x_test.shape == (200, 3, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.y_train.min() >= 0 and data.y_train.max() < 1000 and len(np.unique(data.y_train)) > 900
    assert builder.num_classes == 1000 and builder.meta()["base_dataset"] == "fashion_mnist"

    # the protocol: channel c of image i is base image picks[i, c]; the mode is 100·r + 10·g + b
    base_x = read_idx(fmnist_cache / "fashion-mnist" / "train-images-idx3-ubyte.gz")
    base_y = read_idx(fmnist_cache / "fashion-mnist" / "train-labels-idx1-ubyte.gz").astype(np.int64)
    picks = np.random.default_rng(5).integers(0, 60000, size=(3000, 3))
    assert np.array_equal(data.x_train, base_x[picks])
    assert np.array_equal(data.y_train, 100 * base_y[picks[:, 0]] + 10 * base_y[picks[:, 1]] + base_y[picks[:, 2]])

    again = make_builder("stacked_fashion_mnist", options).build(fmnist_cache)
    assert np.array_equal(again.x_test, data.x_test) and np.array_equal(again.y_test, data.y_test)


# -------------------------------------------------------------------------------------------------------- CIFAR-10


def write_cifar_archive(path: Path, per_batch: int = 3, evil: bool = False) -> dict[str, tuple[np.ndarray, list]]:
    """A cifar-10-python.tar.gz in the official layout: pickled dicts with byte-string keys."""
    rng = np.random.default_rng(1)
    batches = {}
    with tarfile.open(path, "w:gz") as archive:

        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))

        add("batches.meta", pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=3))
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            batches[name] = (data, labels)
            record = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"]}
            payload = pickle.dumps(record, protocol=3)
            if evil and name == "data_batch_2":
                payload = pickle.dumps({b"data": _Evil(), b"labels": labels}, protocol=3)
            add(name, payload)
    return batches


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_cifar10_from_file_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    batches = write_cifar_archive(mirror / "cifar-10-python.tar.gz")
    monkeypatch.setattr(CIFAR10, "checksum", md5((mirror / "cifar-10-python.tar.gz").read_bytes()))
    builder = make_builder("cifar10", {"mirrors": [mirror.as_uri() + "/"]})
    data = prepare_dataset(builder, tmp_path / "cifar.npz", tmp_path / "cache")
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    expected = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert np.array_equal(data.x_train, expected)
    assert data.y_test.tolist() == batches["test_batch"][1]
    assert np.array_equal(data.x_train[0, 1].ravel(), batches["data_batch_1"][0][0, 1024:2048])  # plane 1 is G
    limited = make_builder("cifar10", {"mirrors": ["/nonexistent"], "train_limit": 4}).build(tmp_path / "cache")
    assert limited.x_train.shape == (4, 3, 32, 32) and len(limited.y_test) == 3

    monkeypatch.undo()  # the published checksum guards the real archive
    with pytest.raises(DataError, match="checksum mismatch"):
        make_builder("cifar10", {"mirrors": [mirror.as_uri()]}).build(tmp_path / "cache2")


def test_cifar10_pickle_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", evil=True)
    monkeypatch.setattr(CIFAR10, "checksum", md5((tmp_path / "cifar-10-python.tar.gz").read_bytes()))
    with pytest.raises(DataError, match=r"refusing to load .*getcwd"):
        make_builder("cifar10", {"mirrors": [str(tmp_path)]}).build(tmp_path / "cache")


# ---------------------------------------------------------------------------------------------------------- CelebA


def test_celeba64_folder_and_zip(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for number in (1, 2, 3, 182638, 182639):
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        pixels[39:179, 19:159] = 200  # the centre 140×140 crop is uniform, so it resizes to uniform 64×64
        Image.fromarray(pixels).save(folder / f"{number:06d}.png")
    data = make_builder("celeba64", {"root": str(folder)}).build(tmp_path)
    assert data.x_train.shape == (3, 3, 64, 64) and data.x_test.shape == (2, 3, 64, 64)
    assert data.x_train.dtype == np.uint8 and np.all(data.x_train == 200)

    archive = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.iterdir()):
            z.write(path, f"img_align_celeba/{path.name}")
    zipped = make_builder("celeba64", {"root": str(archive), "limit": 2}).build(tmp_path)
    assert zipped.x_train.shape == (2, 3, 64, 64) and np.array_equal(zipped.x_test, data.x_test)


def test_celeba64_missing_root(tmp_path: Path) -> None:
    for options in ({}, {"root": str(tmp_path / "absent")}):
        with pytest.raises(DataError) as err:
            make_builder("celeba64", options).build(tmp_path)
        assert "datasets.celeba64.root" in str(err.value) and "img_align_celeba" in str(err.value)


# --------------------------------------------------------------------------------------------------------- options


def test_unknown_and_bad_options() -> None:
    with pytest.raises(ConfigError, match=r"datasets\.fashion_mnist\.bogus"):
        make_builder("fashion_mnist", {"bogus": 1})
    with pytest.raises(ConfigError, match=r"datasets\.fmnist\.colour"):
        make_builder("fmnist", {"colour": True}, registry_name="stacked_fashion_mnist")
    with pytest.raises(ConfigError, match=r"datasets\.mnist\.train_limit"):
        make_builder("mnist", {"train_limit": 0}).build(Path("unused"))
    with pytest.raises(ConfigError, match=r"datasets\.stacked_mnist\.n_train"):
        make_builder("stacked_mnist", {"n_train": -5}).build(Path("unused"))
