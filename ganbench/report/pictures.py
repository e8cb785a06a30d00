"""Pictures computed from a run's networks for the report, on the CPU: per (dataset, variant) the best and worst
seed's sample grid, and from the best finished seed the latent interpolation strips, the first-layer filters of D,
the nearest training images of generated samples, and the lecture's extras (latent arithmetic; an autoencoder's or
VAE's reconstructions, encoder filters and latent space). They are extras: when one cannot be made (a file missing
or unreadable, weights that do not fit the architecture), the report says why in its place.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ganbench.config import Config
from ganbench.errors import GanbenchError
from ganbench.io import atomic_open
from ganbench.report.figures import ranked, read_json
from ganbench.runs import run_path

log = logging.getLogger(__name__)

# Errors that make one network picture impossible: a missing or unreadable file (OSError, GanbenchError), a state
# dict that does not fit the network (RuntimeError), a record without a key it needs (KeyError), a shape or value a
# picture cannot take (ValueError).
PICTURE_ERRORS = (GanbenchError, OSError, RuntimeError, KeyError, ValueError)


def copy(src: Path, dst: Path) -> bool:
    if not src.is_file():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, atomic_open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return True


def sample_images(df: pd.DataFrame, config: Config, results: Path, out: Path, order: list[str],
                   datasets: list[str]) -> list[dict]:
    """Best and worst seed's sample grid per (dataset, variant), by FID for images and modes for mixtures."""
    items = []
    for dataset in datasets:
        for variant in order:
            runs = df[(df["dataset"] == dataset) & (df["variant"] == variant)]
            if runs.empty:
                continue
            best_first = ranked(runs)
            picks = [("best", best_first.iloc[0])] + ([("worst", best_first.iloc[-1])] if len(best_first) > 1 else [])
            shown = []
            for tag, row in picks:
                src = run_path(results, dataset, variant, row["seed"]) / "samples.png"
                dst = out / "img" / "samples" / f"{dataset}__{variant}__seed{int(row['seed'])}.png"
                if copy(src, dst):
                    shown.append({"tag": tag, "seed": int(row["seed"]), "src": os.path.relpath(dst, out)})
            items.append({"dataset": dataset, "variant": variant, "label": config.label(variant), "images": shown})
    return items


def network_pictures(df: pd.DataFrame, config: Config, results: Path, out: Path, order: list[str],
                      datasets: list[str]) -> list[dict[str, Any]]:
    """Per image dataset and variant, from its best finished seed: latent interpolation strips, the first-layer
    filters of D, and the nearest training images of generated samples (all on the CPU)."""
    from ganbench.data import Prepared, load_prepared

    items: list[dict[str, Any]] = []
    for dataset in datasets:
        sub = df[df["dataset"] == dataset]
        if sub["kind"].iloc[0] != "image":
            continue
        try:
            data: Prepared | str = load_prepared(results / "data" / f"{dataset}.npz")
        except PICTURE_ERRORS as exc:
            data = str(exc)
        context = _lecture_context(config, results, dataset)
        for variant in order:
            runs = sub[sub["variant"] == variant]
            if runs.empty:
                continue
            item: dict[str, Any] = {"dataset": dataset, "label": config.label(variant), "seed": None,
                                    "pictures": [], "notes": []}
            items.append(item)
            ok = runs[runs["status"] == "ok"]
            if ok.empty:
                item["notes"].append("no finished run: nothing to show")
                continue
            item["seed"] = int(ranked(ok).iloc[0]["seed"])
            item["pictures"], item["notes"] = run_pictures(run_path(results, dataset, variant, item["seed"]),
                                                            data, out, out / "img" / "networks", context)
    return items


def _lecture_context(config: Config, results: Path, dataset: str) -> dict[str, Any]:
    """What the lecture's extra pictures of a run need besides the run: the dataset's domain classifier (latent
    arithmetic; loaded at most once per dataset, into ``loaded``) and its class names."""
    return {"classifier": results / "classifier" / dataset / "model.pt",
            "class_names": tuple(config.dataset_builder(dataset).class_names), "loaded": {}}


def _lecture_makers(run_dir: Path, train: dict[str, Any], prepared: Any, generator: Callable[[], list[Any]],
                    folder: Path, stem: str, context: dict[str, Any] | None) -> list[tuple[str, Callable[[], Any]]]:
    """The lecture's pictures beyond the three every run gets: latent-vector arithmetic for labelled data, and
    for an autoencoder or VAE its reconstructions, encoder filters and latent space (ganbench.report.autoencoders)."""
    from ganbench.metrics.reconstruction import is_reconstruction_model, load_codec
    from ganbench.report import autoencoders, networks

    context = context or {}
    settings = train.get("settings") or {}
    makers: list[tuple[str, Callable[[], Any]]] = []
    if prepared is None or not prepared.num_classes or "classifier" not in context:
        return makers

    def arithmetic() -> Any:
        from ganbench.metrics.classifier import load_classifier

        loaded = context.setdefault("loaded", {})
        if "classifier" not in loaded:
            loaded["classifier"] = load_classifier(context["classifier"])
        return networks.latent_arithmetic(*generator(), loaded["classifier"], prepared.num_classes,
                                          folder / f"arith_{stem}.png", context.get("class_names", ()))

    makers.append(("Latent-vector arithmetic", arithmetic))
    if settings and is_reconstruction_model(settings):
        codec: list[Any] = []

        def model() -> Any:
            if not codec:
                codec.append(load_codec(run_dir, prepared.shape, settings, prepared.num_classes))
            return codec[0]

        makers += [
            ("Input vs reconstruction", lambda: autoencoders.reconstructions(model(), prepared,
                                                                             folder / f"recon_{stem}.png")),
            ("First-layer filters of the encoder", lambda: autoencoders.encoder_filters(
                model(), prepared.shape, folder / f"efilters_{stem}.png")),
            ("Latent space (PCA)", lambda: autoencoders.latent_map(model(), prepared, folder / f"latent_{stem}.png",
                                                                   context.get("class_names", ()))),
        ]
    return makers


def run_pictures(run_dir: Path, data: Any, out: Path, folder: Path,
                  context: dict[str, Any] | None = None) -> tuple[list[dict[str, str]], list[str]]:
    """The network pictures of one run (``_lecture_makers`` adds to the three), and a one-line reason for each that
    cannot be made.

    ``data`` is the dataset's Prepared record, or the reason it could not be loaded (then the generator's shape
    comes from train.json and the neighbours are left out)."""
    import torch

    from ganbench.data import Prepared
    from ganbench.metrics.context import load_generator
    from ganbench.report import networks

    stem = "__".join(run_dir.parts[-3:])
    train = read_json(run_dir / "train.json") or {}
    prepared = data if isinstance(data, Prepared) else None
    loaded: list[Any] = []

    def generator() -> list[Any]:
        """[net, z_dim], loaded once for both pictures that sample from it."""
        if not loaded:
            shell = prepared or Prepared(*(np.empty(0),) * 4, meta=train.get("data") or {})
            loaded.extend(load_generator(run_dir, shell, torch.device("cpu")))
        return loaded

    def filters() -> Any:
        ckpt = networks.latest_checkpoint(run_dir)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint under {run_dir / 'ckpt'}")
        shape = tuple(prepared.shape) if prepared else tuple(train["data"]["shape"])
        return networks.discriminator_filters(ckpt, shape, folder / f"dfilters_{stem}.png")

    def neighbours() -> Any:
        if prepared is None:
            raise FileNotFoundError(data)
        return networks.nearest_neighbours(*generator(), prepared, folder / f"nn_{stem}.png")

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("Latent interpolation", lambda: networks.interpolation_strips(*generator(), folder / f"interp_{stem}.png")),
        ("First-layer filters of D", filters),
        ("Nearest training neighbours", neighbours),
        *_lecture_makers(run_dir, train, prepared, generator, folder, stem, context),
    ]
    pictures: list[dict[str, str]] = []
    notes: list[str] = []
    for title, make in makers:
        try:
            picture = make()
        except PICTURE_ERRORS as exc:
            log.warning("report: %s for %s: %s", title, run_dir, exc)
            notes.append(f"{title}: not available ({type(exc).__name__}: {exc})")
            continue
        if picture is None:
            notes.append(f"{title}: not available for this architecture")
        else:
            pictures.append({"title": title, "src": os.path.relpath(picture.path, out), "note": picture.note})
    return pictures, notes
