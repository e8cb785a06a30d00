"""One run's folder: where it is, what it was trained with, and what happens to files made under other settings.

A run is one (dataset, variant, seed). Its folder ``results/runs/{dataset}/{variant}/seed{seed}`` (a search's
phase-1 run: ``results/search/{dataset}/{variant}/h{k}/seed{seed}``, ``ganbench.search``) holds
``identity.json`` — the hash of everything that shapes the run's weights (``ganbench.specs.train_identity``:
settings, seed, numeric runtime switches, the prepared data's fingerprint) — written before training starts.
Every checkpoint carries the same hash, and so do ``train.json`` and ``metrics.json``.

When a training job finds the folder made under another identity (a setting was edited, the data re-prepared), or
made by an older ganbench that wrote no identity, it does not resume: it moves the folder's contents aside to
``results/stale/runs/{dataset}/{variant}/seed{seed}/{UTC time}-{old identity}/`` — kept, never deleted — and starts
fresh. So a checkpoint, snapshot or sample grid in a run folder always belongs to the settings in its train.json.

A phase-2 run of a search whose identity equals that of a finished phase-1 run (the selected setting, a seed that
phase 1 trained) is that run: ``copy_run`` copies its files instead of training it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ganbench.io import write_json
from ganbench.specs import canonical, digest

log = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"


def run_path(results: str | os.PathLike, dataset: str, variant: str, seed: int) -> Path:
    """The one definition of a run's folder."""
    return Path(results) / "runs" / dataset / variant / f"seed{int(seed)}"


def search_run_path(results: str | os.PathLike, dataset: str, variant: str, h: int, seed: int) -> Path:
    """The folder of a search's phase-1 run: sampled setting ``h`` of a variant, trained with ``seed``."""
    return search_path(results, dataset, variant) / f"h{int(h)}" / f"seed{int(seed)}"


def search_path(results: str | os.PathLike, dataset: str, variant: str) -> Path:
    """The folder of one (dataset, variant)'s search: its phase-1 runs and ``selected.json``."""
    return Path(results) / "search" / dataset / variant


def run_id(identity: dict[str, Any]) -> str:
    """The short hash that names an identity (in identity.json, checkpoints, train.json, metrics.json)."""
    return digest(identity)


def recorded_id(run_dir: str | os.PathLike) -> str | None:
    """The identity hash of the run folder, or None when it has none (empty, or made by an older ganbench)."""
    path = Path(run_dir) / IDENTITY_FILE
    try:
        return json.loads(path.read_text())["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim(run_dir: str | os.PathLike, identity: dict[str, Any], stale_root: str | os.PathLike | None = None
          ) -> tuple[str, Path | None]:
    """Make ``run_dir`` the folder of a run with ``identity``: keep it when it already is one (so training can
    resume), else move whatever it holds aside first. Returns (the identity hash, where old files went or None)."""
    run_dir = Path(run_dir)
    new = run_id(identity)
    old = recorded_id(run_dir)
    moved = None
    if old != new and run_dir.is_dir() and any(run_dir.iterdir()):
        moved = _move_aside(run_dir, old or "unknown", stale_root)
        log.warning("%s was made under other settings (identity %s, now %s); its files were moved to %s and the "
                    "run starts fresh", run_dir, old or "unrecorded", new, moved)
    if old != new:
        write_json(run_dir / IDENTITY_FILE, {"id": new, "identity": json.loads(canonical(identity))})
    return new, moved


def stale_folder(run_dir: Path, stale_root: str | os.PathLike | None) -> Path:
    """``results/stale/runs/<dataset>/<variant>/seed<k>`` for ``results/runs/<dataset>/<variant>/seed<k>`` (and
    ``results/stale/search/...`` for a phase-1 run under ``results/search``)."""
    parts = run_dir.resolve().parts
    if stale_root is None:
        if len(parts) >= 5 and parts[-5] == "search":  # search/<dataset>/<variant>/h<k>/seed<s>
            i = len(parts) - 5
        elif "runs" in parts:
            i = len(parts) - 1 - parts[::-1].index("runs")
        else:
            return run_dir.parent / ".stale" / run_dir.name
        return Path(*parts[:i]) / "stale" / Path(*parts[i:])
    return Path(stale_root) / run_dir.name


def _move_aside(run_dir: Path, old: str, stale_root: str | os.PathLike | None) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = stale_folder(run_dir, stale_root) / f"{stamp}-{old}"
    target.mkdir(parents=True)
    for entry in sorted(run_dir.iterdir()):
        shutil.move(str(entry), target / entry.name)
    return target


def copy_run(source: str | os.PathLike, run_dir: str | os.PathLike, identity: dict[str, Any]) -> dict[str, Any] | None:
    """Copy the finished run in ``source`` into ``run_dir`` when it has ``identity`` (its identity.json and its
    train.json, status "ok", both say so); returns the copied train.json, or None (nothing copied) when it is
    another run or unfinished. ``run_dir`` is claimed first, so files of other settings there are moved aside.
    Its evaluation (metrics.json) stays behind: it may have been made against another split."""
    source, run_dir = Path(source), Path(run_dir)
    want = run_id(identity)
    try:
        train = json.loads((source / "train.json").read_text())
    except (OSError, ValueError):
        return None
    if recorded_id(source) != want or train.get("identity") != want or train.get("status") != "ok":
        return None
    claim(run_dir, identity)
    for entry in sorted(source.iterdir()):
        if entry.name in ("metrics.json", "train.json", IDENTITY_FILE) or entry.name.startswith(".tmp-"):
            continue
        target = run_dir / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target)
    train = {**train, "copied_from": os.path.relpath(source, run_dir.parent)}
    write_json(run_dir / "train.json", train)  # last, as training writes it
    return train
