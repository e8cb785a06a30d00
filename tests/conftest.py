"""Shared fixtures. Every test runs on the CPU with real files; nothing here is mocked."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import ganbench  # noqa: F401  (installs the torchvision compat shim before any test imports torchvision)

REPO = Path(__file__).resolve().parent.parent
FMNIST_MIRROR = Path("/usr/share/datasets/fashion-mnist")
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fmnist_mirror() -> str:
    if not (FMNIST_MIRROR / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"{FMNIST_MIRROR} is missing: run `scripts/setup.sh test` (installs Debian's dataset-fashion-mnist)")
    return f"file://{FMNIST_MIRROR}/"


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread, as the pipeline's jobs run: tiny networks gain nothing from more, and on a busy 2-core
    machine threads spin against each other. Modules opt in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ring8_npz(tmp_path_factory) -> Path:
    from ganbench.data import make_builder, prepare_dataset

    path = tmp_path_factory.mktemp("data") / "ring8.npz"
    prepare_dataset(make_builder("ring8", {"n_train": 4000, "n_test": 1000}), path, path.parent / "cache")
    return path


@pytest.fixture(scope="session")
def fmnist_small(fmnist_mirror, tmp_path_factory) -> Path:
    """A Fashion-MNIST subset (2000 training, 500 test images) for short runs."""
    from ganbench.data import make_builder, prepare_dataset

    path = tmp_path_factory.mktemp("data") / "fashion_mnist.npz"
    builder = make_builder("fashion_mnist", {"mirrors": [fmnist_mirror], "train_limit": 2000, "test_limit": 500})
    prepare_dataset(builder, path, path.parent / "cache")
    return path


def snakemake_cmd(*args: str) -> list[str]:
    return [str(VENV_BIN / "snakemake"), "-s", str(REPO / "Snakefile"), *args]


def env_with_venv() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
