"""Evaluation of one run and the per-dataset real-data side it is compared with.

``real_features`` (once per dataset): features of ``num_samples`` real images of the evaluation split, with what
depends on them alone (the FID statistics, the real k-NN radii of precision/recall and density/coverage, the real kernel sums of the KID subsets), and the memorization reference (domain
classifier features of the whole train split, the nearest-training-neighbour median of held-out test images). The
same call measures the real-vs-real floor of every metric, shown in the report as the "data" row: the other split
against the evaluation split for FID/KID/IS/precision/recall/density/coverage/classes/stacked modes, a second
held-out subset for the memorization ratio.

``evaluate_runs``: the runs of one job (a dataset and variant, every seed) in one process, which loads the dataset,
the feature networks and the real side once. For each run it samples the generator in batches straight into the
feature networks (no PNG round trip, one pass for all of them) and runs every registered ``Evaluator`` that applies
to the run:

=================  =========================================================================================
fidelity           FID, KID, IS, precision/recall, density/coverage of the final weights; FID of every training
                   snapshot (best and final are reported, since GANs often collapse late)
classes            classes covered and class KL (labelled image datasets, domain classifier), classes reached by
                   ``mode_min_share`` of a uniform share, samples per class
stacked_modes      modes out of 1000 and KL to uniform on ``stacked_samples`` samples (stacked datasets), modes
                   reached, samples per mode
memorization       memorization ratio (nearest training neighbour, generated vs held-out)
mixture            modes, modes reached, high-quality %, reverse KL and samples per mode (2-D mixtures) on
                   ``mixture_samples`` samples (the PacGAN / VEEGAN protocol: 2500), for the final weights and for
                   every training snapshot (``mode_curve``: the generator moving between modes)
critic             Wasserstein estimate of the final critic on held-out data (WGAN, WGAN-GP)
reconstruction     reconstruction error of ``num_samples`` test images (VAE, autoencoder: the encoder from the
                   newest checkpoint)
conditional        classifier accuracy on requested labels (conditional architectures; none yet)
=================  =========================================================================================

Every result records the evaluation settings it was computed with (``num_samples``, ``eval_seed``, ``real_split``
and the whole ``evaluation`` section).
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ganbench.data import Prepared, load_prepared
from ganbench.device import describe, pick_device
from ganbench.errors import DataError
from ganbench.io import read_json, torch_save, write_json
from ganbench.metrics.conditional import balanced_labels, conditional_accuracy, is_conditional
from ganbench.metrics.critic import critic_estimate, is_wasserstein
from ganbench.metrics.extractors import CLASS_FEATURES, CLASS_LOGITS, CLASSIFIER, FID, ISC, PRC, FeaturePipeline
from ganbench.metrics.fidelity import FIDELITY_METRICS, class_coverage, fid_from_features, fidelity_metrics, real_caches
from ganbench.metrics.memorization import median_distance, memorization_ratio
from ganbench.metrics.modes import mixture_metrics, stacked_mode_metrics
from ganbench.metrics.reconstruction import is_reconstruction_model, load_codec, reconstruction_metrics
from ganbench.models import ARCHITECTURES
from ganbench.progress import log as progress_log
from ganbench.registry import Registry
from ganbench.timing import job_costs
from ganbench.train.conditioning import LabelledSampler, conditioning_of
from ganbench.train.trainer import to_uint8

REAL_ROLES = (FID, ISC, PRC)  # the features kept for the comparison with every run


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


def _subset(x: np.ndarray, n: int, seed: int) -> torch.Tensor:
    idx = np.random.default_rng(seed).permutation(len(x))[: min(n, len(x))]
    return torch.from_numpy(x[np.sort(idx)])


def _heldout_pair(x: np.ndarray, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random subsets of ``x`` of up to ``n`` samples each (halves when ``x`` has fewer than 2n)."""
    n = min(n, len(x) // 2)
    order = np.random.default_rng(seed).permutation(len(x))
    return torch.from_numpy(x[np.sort(order[:n])]), torch.from_numpy(x[np.sort(order[n:2 * n])])


def is_stacked(data: Prepared) -> bool:
    return bool(data.meta.get("base_dataset"))


def sample_total(data: Prepared, options: dict[str, Any]) -> int:
    """Samples to draw from a generator of this dataset: ``mixture_samples`` for a 2-D mixture (its protocol's
    count), ``num_samples`` for images, or ``stacked_samples`` when more for the mode count of a stacked dataset."""
    if data.kind == "points":
        return int(options["mixture_samples"])
    n = int(options["num_samples"])
    return max(n, int(options["stacked_samples"])) if is_stacked(data) else n


def mixture_options(options: dict[str, Any]) -> tuple[int, float]:
    """(samples per mixture evaluation, ``mode_min_share``)."""
    return int(options["mixture_samples"]), float(options["mode_min_share"])


# ------------------------------------------------------------------------------------------- real side
def real_features(data_path: str | Path, classifier_path: str | Path | None, options: dict[str, Any],
                  out_path: str | Path, floor_path: str | Path | None = None) -> dict[str, Any]:
    device = pick_device("auto")
    data = load_prepared(data_path)
    pipe = FeaturePipeline.build(options, classifier_path, device)
    n, seed, bs = int(options["num_samples"]), int(options["seed"]), int(options["batch_size"])
    split = options["real_split"]
    start = time.perf_counter()
    real = pipe(_batches(_subset(data.split(split)[0], n, seed), bs), roles=REAL_ROLES)
    blob: dict[str, Any] = {**real, **real_caches(real, options), "split": split, "extractor": pipe.main_name,
                            "num_samples": len(real[FID])}
    heldout_floor = None
    if CLASS_FEATURES in pipe.roles:
        m = int(options["memorization_samples"])
        train = pipe(_batches(torch.from_numpy(data.x_train), bs), roles=[CLASS_FEATURES])[CLASS_FEATURES]
        train = train.half()  # stored at half size (a stacked train split: 60 000 × 384); distances in float32
        heldout, heldout_floor = _heldout_pair(data.heldout(split)[0], m, seed + 2)  # val in a search's phase 1
        reference = pipe(_batches(heldout, bs), roles=[CLASS_FEATURES])[CLASS_FEATURES]
        blob["memorization"] = {"train": train, "heldout_median": median_distance(reference, train),
                                "heldout_samples": len(reference)}
    torch_save(blob, out_path)
    info: dict[str, Any] = {"extractor": pipe.main_name, "split": split, "num_samples": len(real[FID]),
                            "seed": seed, "evaluation": options}
    if floor_path is not None:
        info.update(_floor(data, pipe, blob, heldout_floor, options))
        info["seconds"] = time.perf_counter() - start
        info.update(job_costs())
        write_json(floor_path, info)
    return info


def _floor(data: Prepared, pipe: FeaturePipeline, real: dict[str, Any], heldout: torch.Tensor | None,
           options: dict[str, Any]) -> dict[str, Any]:
    """Real-vs-real values of every metric that has one: the other split plays the generator."""
    n, seed, bs = int(options["num_samples"]), int(options["seed"]), int(options["batch_size"])
    other = "train" if options["real_split"] == "test" else "test"
    sample = _subset(getattr(data, f"x_{other}"), sample_total(data, options), seed + 1)
    feats = pipe(_batches(sample, bs), head=n)
    metrics: dict[str, Any] = fidelity_metrics(feats, real, options)
    labels = feats[CLASS_LOGITS].argmax(1).numpy() if CLASS_LOGITS in feats else None
    share = float(options["mode_min_share"])
    if labels is not None and data.num_classes:
        metrics.update(class_coverage(labels[:n], data.num_classes, share))
    if labels is not None and is_stacked(data):
        metrics.update(stacked_mode_metrics(labels, data.num_classes, share))
    if heldout is not None and "memorization" in real:
        mem = real["memorization"]
        second = pipe(_batches(heldout, bs), roles=[CLASS_FEATURES])[CLASS_FEATURES]
        metrics.update(memorization_ratio(second, mem["train"], mem["heldout_median"]))
    return {"metrics": metrics, "floor_split": other, "floor_samples": len(feats[FID]),
            "stacked_samples": len(labels) if labels is not None and is_stacked(data) else None}


# ------------------------------------------------------------------------------------------- one run
def load_generator(run_dir: Path, data: Prepared, device: torch.device, weights: Path | None = None):
    train = read_json(run_dir / "train.json")
    settings = train["settings"]
    arch = settings["architecture"]
    conditioning = conditioning_of(settings, data.num_classes)
    family = ARCHITECTURES.get(arch["name"])(data.shape, data.kind, conditioning.g_inputs(int(settings["z_dim"])),
                                             data.num_classes, {k: v for k, v in arch.items() if k != "name"},
                                             "architecture")
    net = family.generator()
    state = torch.load(weights or run_dir / "generator.pt", map_location="cpu", weights_only=True)
    if any(".parametrizations." in k for k in state):  # spectral norm on G: rebuild the same parametrisation
        from ganbench.tricks.spectral_norm import apply_spectral_norm

        apply_spectral_norm(net)
    net.load_state_dict(state)
    if conditioning.active:  # z → balanced labels; net(z, y) for requested ones
        net = LabelledSampler(net, conditioning)
    return net.to(device).eval(), int(settings["z_dim"])


@torch.no_grad()
def generate(net, z_dim: int, n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), z_dim, generator=gen).to(device)
        yield net(z).float()


def snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every generator snapshot the trainer saved under ``snapshots/``, in step order."""
    return [(int(p.stem[4:]), p) for p in sorted((Path(run_dir) / "snapshots").glob("step*.pt"))]


@dataclass
class Shared:
    """What every run of one evaluate job shares, each loaded at most once: the prepared dataset, the feature
    networks and the cached real side."""

    data: Prepared
    options: dict[str, Any]
    device: torch.device
    real_features_path: str | Path | None = None
    classifier_path: str | Path | None = None

    @cached_property
    def pipeline(self) -> FeaturePipeline:
        return FeaturePipeline.build(self.options, self.classifier_path, self.device)

    @cached_property
    def real(self) -> dict[str, Any]:
        if self.real_features_path is None:
            raise DataError("evaluate: image datasets need --real-features (the real_features rule's real.pt)")
        return torch.load(self.real_features_path, map_location="cpu", weights_only=True)


@dataclass
class RunContext:
    """One trained run and everything its evaluators share, each loaded or computed at most once."""

    run_dir: Path
    shared: Shared
    train: dict[str, Any]

    @property
    def data(self) -> Prepared:
        return self.shared.data

    @property
    def options(self) -> dict[str, Any]:
        return self.shared.options

    @property
    def device(self) -> torch.device:
        return self.shared.device

    @property
    def pipeline(self) -> FeaturePipeline:
        return self.shared.pipeline

    @property
    def real(self) -> dict[str, Any]:
        return self.shared.real

    @property
    def settings(self) -> dict[str, Any]:
        return self.train["settings"]

    @property
    def n(self) -> int:
        return int(self.options["num_samples"])

    @property
    def has_classifier(self) -> bool:
        return self.shared.classifier_path is not None

    @cached_property
    def generator(self) -> tuple[torch.nn.Module, int]:
        return load_generator(self.run_dir, self.data, self.device)

    def samples(self, net: torch.nn.Module, n: int) -> Iterator[torch.Tensor]:
        z_dim = self.generator[1]
        bs, seed = int(self.options["batch_size"]), int(self.options["seed"])
        return (to_uint8(x) for x in generate(net, z_dim, n, bs, seed, self.device))

    @cached_property
    def generated(self) -> dict[str, torch.Tensor]:
        """Features of the final generator's samples: every role for the first ``num_samples``, classifier
        labels for all ``sample_total`` of them."""
        return self.pipeline(self.samples(self.generator[0], sample_total(self.data, self.options)), head=self.n)

    @cached_property
    def labels(self) -> np.ndarray:
        return self.generated[CLASS_LOGITS].argmax(1).numpy()


@dataclass(frozen=True)
class Evaluator:
    """A group of metrics: the scalar names it reports (NaN for a run that did not finish), when it applies
    (decided from the data and settings alone), and how it computes them."""

    name: str
    metrics: tuple[str, ...]
    applies: Callable[[RunContext], bool]
    compute: Callable[[RunContext], dict[str, Any]]


EVALUATORS: Registry[Evaluator] = Registry("evaluator")


def evaluator(name: str, metrics: tuple[str, ...], applies: Callable[[RunContext], bool]):
    def register(compute: Callable[[RunContext], dict[str, Any]]):
        EVALUATORS.register(name)(Evaluator(name, metrics, applies, compute))
        return compute

    return register


def _image(ctx: RunContext) -> bool:
    return ctx.data.kind == "image"


@evaluator("fidelity", (*FIDELITY_METRICS, "fid_best"), _image)
def _fidelity(ctx: RunContext) -> dict[str, Any]:
    out: dict[str, Any] = fidelity_metrics(ctx.generated, ctx.real, ctx.options)
    out.update({"extractor": ctx.pipeline.main_name, "prc_extractor": ctx.pipeline.roles[PRC][0]})
    curve = []
    c0 = time.process_time()
    for step, snap in snapshots(ctx.run_dir):
        if step >= int(ctx.train["steps"]):  # the final weights: already measured
            curve.append({"step": step, "fid": out["fid"]})
            continue
        model, _ = load_generator(ctx.run_dir, ctx.data, ctx.device, snap)
        feats = ctx.pipeline(ctx.samples(model, ctx.n), roles=[FID])[FID]
        curve.append({"step": step, "fid": fid_from_features(feats, ctx.real[FID], ctx.real.get("fid_stats"))})
    out["fid_curve"] = curve
    out["snapshot_fid_cpu_seconds"] = time.process_time() - c0  # of this run's eval_cpu_seconds: earlier snapshots
    out["fid_best"] = min([c["fid"] for c in curve] + [out["fid"]])
    return out


@evaluator("classes", ("classes_covered", "classes_reached", "class_kl"),
           lambda ctx: _image(ctx) and ctx.has_classifier and ctx.data.num_classes > 0)
def _classes(ctx: RunContext) -> dict[str, Any]:
    return class_coverage(ctx.labels[:ctx.n], ctx.data.num_classes, float(ctx.options["mode_min_share"]))


@evaluator("stacked_modes", ("stacked_modes", "stacked_modes_reached", "stacked_kl"),
           lambda ctx: _image(ctx) and ctx.has_classifier and is_stacked(ctx.data))
def _stacked_modes(ctx: RunContext) -> dict[str, Any]:
    return {**stacked_mode_metrics(ctx.labels, ctx.data.num_classes, float(ctx.options["mode_min_share"])),
            "stacked_samples": len(ctx.labels)}


@evaluator("memorization", ("memorization_ratio",), lambda ctx: _image(ctx) and ctx.has_classifier)
def _memorization(ctx: RunContext) -> dict[str, Any]:
    mem = ctx.real.get("memorization")
    if mem is None:
        return {"memorization_ratio": math.nan}
    gen = ctx.generated[CLASS_FEATURES][: int(ctx.options["memorization_samples"])]
    return {**memorization_ratio(gen, mem["train"], float(mem["heldout_median"])),
            "memorization_samples": len(gen), "nn_train_distance_heldout": float(mem["heldout_median"])}


@evaluator("mixture", ("modes", "modes_reached", "hq_percent", "reverse_kl"), lambda ctx: ctx.data.kind == "points")
def _mixture(ctx: RunContext) -> dict[str, Any]:
    n, share = mixture_options(ctx.options)
    bs, seed = int(ctx.options["batch_size"]), int(ctx.options["seed"])
    centers, sigma = np.asarray(ctx.data.meta["centers"]), float(ctx.data.meta["sigma"])

    def measure(net: torch.nn.Module) -> dict[str, Any]:
        points = torch.cat(list(generate(net, ctx.generator[1], n, bs, seed, ctx.device))).cpu().numpy()
        return mixture_metrics(points, centers, sigma, min_share=share)

    out: dict[str, Any] = {**measure(ctx.generator[0]), "mixture_samples": n, "mode_min_share": share}
    curve = []
    for step, snap in snapshots(ctx.run_dir):  # the same noise at every snapshot: mode hopping shows as such
        final = step >= int(ctx.train["steps"])
        curve.append({"step": step, **(out if final else measure(load_generator(ctx.run_dir, ctx.data, ctx.device,
                                                                                 snap)[0]))})
    out["mode_curve"] = [{k: c[k] for k in ("step", "modes", "modes_reached", "hq_percent", "mode_counts")}
                         for c in curve]
    return out


@evaluator("critic", ("wasserstein",), lambda ctx: is_wasserstein(ctx.settings))
def _critic(ctx: RunContext) -> dict[str, Any]:
    return critic_estimate(ctx.run_dir, ctx.data, ctx.settings, ctx.options, ctx.device)


@evaluator("reconstruction", ("reconstruction_bce", "reconstruction_mse"),
           lambda ctx: _image(ctx) and is_reconstruction_model(ctx.settings))
def _reconstruction(ctx: RunContext) -> dict[str, Any]:
    model = load_codec(ctx.run_dir, ctx.data.shape, ctx.settings, ctx.data.num_classes, ctx.device)
    return reconstruction_metrics(model, ctx.data.x_test[:ctx.n], int(ctx.options["batch_size"]), ctx.device)


@evaluator("conditional", ("conditional_accuracy",),
           lambda ctx: _image(ctx) and ctx.has_classifier and is_conditional(ctx.settings))
def _conditional(ctx: RunContext) -> dict[str, Any]:
    net, z_dim = ctx.generator
    classifier = ctx.pipeline.extractors[CLASSIFIER].net.model
    labels = balanced_labels(ctx.n, ctx.data.num_classes)
    return {"conditional_accuracy": conditional_accuracy(net, labels, classifier, z_dim,
                                                         int(ctx.options["batch_size"]), int(ctx.options["seed"]),
                                                         ctx.device)}


@dataclass(frozen=True)
class RunToEvaluate:
    """One run of an evaluate job: its folder, where its metrics.json goes, and the ids recorded with them."""

    run_dir: Path
    out_path: Path
    run_id: dict[str, Any]


def evaluate_runs(runs: list[RunToEvaluate], data_path: str | Path, options: dict[str, Any],
                  real_features_path: str | Path | None = None, classifier_path: str | Path | None = None
                  ) -> list[dict[str, Any]]:
    """Every applicable evaluator's metrics for each run (NaN where a run did not finish), with the run's timings
    and the evaluation settings, written to each run's ``out_path`` (metrics.json) when the job ends.

    One process evaluates all ``runs`` (one Snakemake job per dataset and variant: its seeds), so interpreter
    start-up, imports, the dataset, the feature networks and the real side are paid once. Each metrics.json
    records this run's own ``eval_seconds``/``eval_cpu_seconds`` and the whole job's cost with the number of runs
    it covered (``eval_job_*``)."""
    device = pick_device("auto")
    shared = Shared(load_prepared(data_path), options, device, real_features_path, classifier_path)
    if shared.data.kind == "image" and real_features_path is not None:
        _ = shared.pipeline, shared.real  # loaded once, outside the runs' own timings
    pending = [(run, read_json(Path(run.run_dir) / "train.json")) for run in runs]
    timed = []
    for i, (run, train) in enumerate(pending, 1):
        t0, c0 = time.perf_counter(), time.process_time()
        result = _evaluate_one(RunContext(Path(run.run_dir), shared, train), run.run_id)
        result["eval_seconds"] = time.perf_counter() - t0
        result["eval_cpu_seconds"] = time.process_time() - c0
        timed.append((run, result))
        progress_log.info("evaluated run %d/%d: %s (%s) in %.1f s", i, len(pending), run.run_dir, result["status"],
                          result["eval_seconds"])
    # the job's cost is known only now: written with every run's metrics, with the part no run's own time covers
    # (start-up, imports, loading the dataset, the feature networks and the real side)
    job = job_costs()
    own_cpu = sum(r["eval_cpu_seconds"] for _, r in timed)
    shared_cost = {"eval_job_cpu_seconds": job["job_cpu_seconds"], "eval_job_wall_seconds": job["job_wall_seconds"],
                   "eval_job_runs": len(runs), "eval_job_setup_cpu_seconds": max(0.0, job["job_cpu_seconds"] - own_cpu)}
    results = []
    for run, result in timed:
        result.update(shared_cost)
        write_json(run.out_path, result)
        results.append(result)
    return results


def evaluate_run(run_dir: str | Path, data_path: str | Path, options: dict[str, Any], out_path: str | Path,
                 real_features_path: str | Path | None = None, classifier_path: str | Path | None = None,
                 run_id: dict[str, Any] | None = None) -> dict[str, Any]:
    """``evaluate_runs`` for one run."""
    return evaluate_runs([RunToEvaluate(Path(run_dir), Path(out_path), run_id or {})], data_path, options,
                         real_features_path, classifier_path)[0]


def _evaluate_one(ctx: RunContext, run_id: dict[str, Any]) -> dict[str, Any]:
    train = ctx.train
    options = ctx.options
    result: dict[str, Any] = {
        **run_id,
        "identity": train.get("identity"),  # the weights these numbers belong to (ganbench.runs)
        "status": train["status"],
        "message": train.get("message", ""),
        "steps": train["steps"],
        "train_seconds": train["train_seconds"],
        "train_cpu_seconds": train.get("train_cpu_seconds"),
        "setup_seconds": train.get("setup_seconds"),
        "total_train_job_seconds": train.get("total_seconds"),
        "train_job_cpu_seconds": train.get("job_cpu_seconds"),
        "train_job_wall_seconds": train.get("job_wall_seconds"),
        "images_per_second": train["images_per_second"],
        "device": train["device"],
        "num_samples": int(options["num_samples"]),
        "eval_seed": int(options["seed"]),
        "real_split": options["real_split"],
        "kind": ctx.data.kind,
        "evaluation": options,
    }
    applicable = [EVALUATORS.get(name) for name in EVALUATORS if EVALUATORS.get(name).applies(ctx)]
    blank = {name: math.nan for ev in applicable for name in ev.metrics}
    result.update(blank)
    if train["status"] == "ok":
        try:
            for ev in applicable:
                result.update(ev.compute(ctx))
        except Exception as exc:  # noqa: BLE001 - one run's broken evaluation is recorded, the job goes on
            traceback.print_exc()
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result.update({**blank, "status": "failed", "message": f"evaluation failed: {last}"})
    result["eval_device"] = describe(ctx.device)
    return result
