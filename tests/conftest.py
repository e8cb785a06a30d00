"""Shared fixtures. Every test runs on the CPU with real files; nothing here is mocked.

Tests that need something outside Python (Debian's Fashion-MNIST mirror, Chromium, a SLURM cluster) ask for it
through ``require``: where it is missing they are skipped with a message that names what to install, except under
CI (``CI=true``), where they fail: CI runs every test.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import ganbench  # noqa: F401  (installs the torchvision compat shim before any test imports torchvision)

REPO = Path(__file__).resolve().parent.parent
FMNIST_MIRROR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")
CHROMIUM = Path("/usr/bin/chromium")
SLURM_COMMANDS = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo",
                  "scontrol", "scancel")
VENV_BIN = Path(sys.executable).parent


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(present: bool, what: str, install: str) -> None:
    """Skip the calling test (or fixture) when ``what`` is missing, saying how to install it; under CI fail."""
    if present:
        return
    message = f"{what} is missing: {install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the tests that need it must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fmnist_mirror() -> str:
    """Debian's Fashion-MNIST files (package dataset-fashion-mnist), the offline mirror the tests download from."""
    require(all((FMNIST_MIRROR / f).is_file() for f in FMNIST_FILES), f"Fashion-MNIST in {FMNIST_MIRROR}",
            "install the Debian package dataset-fashion-mnist (`scripts/setup.sh test` does, as root), or put the "
            f"four official files ({', '.join(FMNIST_FILES)}) in that folder")
    return f"file://{FMNIST_MIRROR}/"


@pytest.fixture(scope="session")
def fmnist_cache(fmnist_mirror, tmp_path_factory) -> Path:
    """A download cache holding Fashion-MNIST's four files, fetched once per session through the file:// mirror (and
    checksummed): every test that prepares Fashion-MNIST reads it instead of downloading again."""
    from ganbench.data import make_builder

    cache = tmp_path_factory.mktemp("fmnist-downloads")
    make_builder("fashion_mnist", {"mirrors": [fmnist_mirror], "test_limit": 1}).build(cache)
    return cache


@pytest.fixture(scope="session")
def fmnist_npz(fmnist_mirror, fmnist_cache, tmp_path_factory) -> Path:
    """Fashion-MNIST prepared once per session, 2000 training and 500 test images: the data of the short training
    runs (read only; a test that needs other limits prepares its own from ``fmnist_cache``)."""
    from ganbench.data import make_builder, prepare_dataset

    path = tmp_path_factory.mktemp("fmnist") / "fashion_mnist.npz"
    builder = make_builder("fashion_mnist", {"mirrors": [fmnist_mirror], "train_limit": 2000, "test_limit": 500})
    prepare_dataset(builder, path, fmnist_cache)
    return path


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Headless Chromium (Debian's) and the playwright package that drives it."""
    require(CHROMIUM.is_file(), f"Chromium ({CHROMIUM})",
            "install the Debian package chromium (`scripts/setup.sh test` does, as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "the playwright package", 'pip install -e ".[test]"')
    return CHROMIUM


def slurm_runnable() -> bool:
    """tests/slurm/start-cluster.sh starts its own cluster: it needs root, and the SLURM/munge commands or
    apt-get to install them."""
    installed = all(shutil.which(c) or Path("/usr/sbin", c).is_file() for c in SLURM_COMMANDS)
    return os.geteuid() == 0 and (installed or shutil.which("apt-get") is not None)


@pytest.fixture(scope="session")
def slurm_available() -> None:
    require(slurm_runnable(), "a SLURM test cluster (root, and slurmctld/slurmd/munge or apt-get)",
            "run the tests as root with the Debian packages slurmctld slurmd slurm-client munge installed "
            "(`scripts/setup.sh test` installs them; as root on Debian the test installs them itself)")


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
