"""Checkpoints: the whole training state (models, optimizers, tricks, RNG, step, elapsed time) in one file.

Files are written atomically as ``ckpt/step{N:08d}.pt``; the newest two are kept, so a checkpoint truncated by a
crash or a full disk is detected on load and the run restarts from the one before. Loading uses
``torch.load(weights_only=True)``: a file that would need to run code to unpickle is refused, never executed.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import CheckpointError
from ganbench.io import torch_save

log = logging.getLogger(__name__)
KEEP = 2


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder: Path, step: int, state: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step{step:08d}.pt"
    torch_save({**state, "rng": rng_state()}, path)
    for old in sorted(folder.glob("step*.pt"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def load_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint file safely; CheckpointError says whether it is truncated or unsafe."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused: not a plain-tensor checkpoint (loading it would run code): "
                              f"{str(exc).splitlines()[0]}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({exc})") from exc


def load_latest(folder: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest readable checkpoint in ``folder``, skipping (and reporting) truncated ones; None if none.

    A checkpoint that is refused as unsafe is not skipped: that is an error the user must see.
    """
    for path in sorted(folder.glob("step*.pt"), reverse=True):
        try:
            return load_file(path, map_location)
        except CheckpointError as exc:
            if "refused" in str(exc):
                raise
            log.warning("%s; falling back to the previous checkpoint", exc)
            path.rename(path.with_suffix(".corrupt"))
    return None
