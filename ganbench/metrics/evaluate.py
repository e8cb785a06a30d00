"""Evaluation of one run and the per-dataset real-data side it is compared with.

``real_features``: features of ``num_samples`` real images of the evaluation split, extracted once per
(dataset, extractor, split) and cached; the same call measures the real-vs-real floor (a train subset of equal size
against that split), shown in the report as the "data" row.
``evaluate_run``: samples the generator in batches straight into the extractor (no PNG round trip), computes the
torch-fidelity metrics for the final weights and FID for every training snapshot (best and final are reported,
since GANs often collapse late), class coverage with the domain classifier, or mode coverage on 2-D mixtures.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ganbench.data import Prepared, load_prepared
from ganbench.device import describe, pick_device
from ganbench.io import read_json, torch_save, write_json
from ganbench.metrics.fidelity import class_coverage, fid_from_features, fidelity_metrics
from ganbench.metrics.modes import mixture_metrics
from ganbench.models import ARCHITECTURES
from ganbench.train.trainer import to_uint8

IMAGE_METRICS = ("fid", "fid_best", "kid", "is", "precision", "recall", "classes_covered", "class_kl")
POINT_METRICS = ("modes", "hq_percent", "reverse_kl")


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


def _subset(x: np.ndarray, n: int, seed: int) -> torch.Tensor:
    idx = np.random.default_rng(seed).permutation(len(x))[: min(n, len(x))]
    return torch.from_numpy(x[np.sort(idx)])


def make_extractor(options: dict[str, Any], classifier_path: str | Path | None, device: torch.device):
    from ganbench.metrics.extractors import CLASSIFIER, Extractor

    name = options["feature_extractor"]
    weights = str(classifier_path) if name == CLASSIFIER else options["feature_extractor_weights"]
    return Extractor(name, weights, device)


def real_features(data_path: str | Path, classifier_path: str | Path | None, options: dict[str, Any],
                  out_path: str | Path, floor_path: str | Path | None = None) -> dict[str, Any]:
    device = pick_device("auto")
    data = load_prepared(data_path)
    extractor = make_extractor(options, classifier_path, device)
    n, seed, bs = int(options["num_samples"]), int(options["seed"]), int(options["batch_size"])
    split = options["real_split"]
    start = time.perf_counter()
    real = extractor(_batches(_subset(getattr(data, f"x_{split}"), n, seed), bs))
    torch_save({"fid": real["fid"], "isc": real["isc"], "split": split, "extractor": extractor.name}, out_path)
    info: dict[str, Any] = {"extractor": extractor.name, "split": split, "num_samples": len(real["fid"])}
    if floor_path is not None:
        # real-vs-real floor: the other split, the same number of samples, the same metrics
        other = "train" if split == "test" else "test"
        floor = extractor(_batches(_subset(getattr(data, f"x_{other}"), len(real["fid"]), seed + 1), bs))
        metrics = fidelity_metrics(floor, real, options)
        metrics.update(class_coverage(floor["isc"].argmax(1).numpy(), data.num_classes)
                       if data.num_classes and extractor.name == "ganbench-classifier" else {})
        info.update({"metrics": metrics, "floor_split": other, "seconds": time.perf_counter() - start})
        write_json(floor_path, info)
    return info


def load_generator(run_dir: Path, data: Prepared, device: torch.device, weights: Path | None = None):
    train = read_json(run_dir / "train.json")
    settings = train["settings"]
    arch = settings["architecture"]
    family = ARCHITECTURES.get(arch["name"])(data.shape, data.kind, int(settings["z_dim"]), data.num_classes,
                                             {k: v for k, v in arch.items() if k != "name"}, "architecture")
    net = family.generator()
    state = torch.load(weights or run_dir / "generator.pt", map_location="cpu", weights_only=True)
    if any(".parametrizations." in k for k in state):  # spectral norm on G: rebuild the same parametrisation
        from ganbench.tricks.spectral_norm import apply_spectral_norm

        apply_spectral_norm(net)
    net.load_state_dict(state)
    return net.to(device).eval(), int(settings["z_dim"])


@torch.no_grad()
def generate(net, z_dim: int, n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), z_dim, generator=gen).to(device)
        yield net(z).float()


def evaluate_run(run_dir: str | Path, data_path: str | Path, options: dict[str, Any], out_path: str | Path,
                 real_features_path: str | Path | None = None, classifier_path: str | Path | None = None,
                 run_id: dict[str, Any] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    run_dir = Path(run_dir)
    device = pick_device("auto")
    train = read_json(run_dir / "train.json")
    data = load_prepared(data_path)
    n, bs, seed = int(options["num_samples"]), int(options["batch_size"]), int(options["seed"])
    result: dict[str, Any] = {
        **(run_id or {}),
        "status": train["status"],
        "message": train.get("message", ""),
        "steps": train["steps"],
        "train_seconds": train["train_seconds"],
        "setup_seconds": train.get("setup_seconds"),
        "total_train_job_seconds": train.get("total_seconds"),
        "images_per_second": train["images_per_second"],
        "device": train["device"],
        "num_samples": n,
        "eval_seed": seed,
        "real_split": options["real_split"],
        "kind": data.kind,
    }
    names = IMAGE_METRICS if data.kind == "image" else POINT_METRICS
    result.update({name: math.nan for name in names})
    if train["status"] == "ok":
        net, z_dim = load_generator(run_dir, data, device)
        if data.kind == "image":
            result.update(_image_metrics(run_dir, net, z_dim, data, options, device, real_features_path,
                                         classifier_path))
        else:
            points = torch.cat(list(generate(net, z_dim, n, bs, seed, device))).cpu().numpy()
            result.update(mixture_metrics(points, np.asarray(data.meta["centers"]), float(data.meta["sigma"])))
    result["eval_seconds"] = time.perf_counter() - start
    result["eval_device"] = describe(device)
    write_json(out_path, result)
    return result


def _image_metrics(run_dir: Path, net, z_dim: int, data: Prepared, options: dict[str, Any], device: torch.device,
                   real_features_path, classifier_path) -> dict[str, Any]:
    n, bs, seed = int(options["num_samples"]), int(options["batch_size"]), int(options["seed"])
    extractor = make_extractor(options, classifier_path, device)
    real = torch.load(real_features_path, map_location="cpu", weights_only=True)

    def features(model) -> dict[str, torch.Tensor]:
        return extractor(to_uint8(x) for x in generate(model, z_dim, n, bs, seed, device))

    gen = features(net)
    out: dict[str, Any] = fidelity_metrics(gen, real, options)
    out["extractor"] = extractor.name
    if data.num_classes and extractor.name == "ganbench-classifier":
        out.update(class_coverage(gen["isc"].argmax(1).numpy(), data.num_classes))
    curve = []
    for snap in sorted((run_dir / "snapshots").glob("step*.pt")):
        step = int(snap.stem[4:])
        if step >= int(read_json(run_dir / "train.json")["steps"]):
            curve.append({"step": step, "fid": out["fid"]})
            continue
        model, _ = load_generator(run_dir, data, device, snap)
        curve.append({"step": step, "fid": fid_from_features(features(model)["fid"], real["fid"])})
    out["fid_curve"] = curve
    out["fid_best"] = min([c["fid"] for c in curve] + [out["fid"]])
    return out
