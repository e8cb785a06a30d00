"""Benchmark configuration: load, validate, and expand into runs.

A config names datasets, seeds and variants; each variant is a small delta over ``defaults`` (StudioGAN style).
Validation happens in two layers, both before any job starts:

1. the JSON schema (``ganbench/schemas/config.schema.yaml``, also used by the Snakefile through
   ``snakemake.utils.validate``): structure, types, ranges, unknown keys;
2. ``check``: names against the registries (datasets, architectures, losses, tricks), options of each component,
   duplicate variant names, and combinations (an architecture that cannot model a dataset, a trick that does not
   fit the loss).

Every error is a ConfigError whose message starts with the offending key, e.g. ``variants[2].loss.name: ...``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import yaml

from ganbench.errors import ConfigError

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"

EVALUATION_DEFAULTS: dict[str, Any] = {
    "num_samples": 10_000,
    "batch_size": 500,
    "real_split": "test",
    "seed": 2024,
    "feature_extractor": "ganbench-classifier",
    "feature_extractor_weights": None,
    "kid_subset_size": 1000,
    "kid_subsets": 100,
    "prc_neighborhood": 3,
    "dc_neighborhood": 5,  # density/coverage (Naeem et al. 2020)
    "prc_feature_extractor_weights": None,  # VGG16 weights: precision/recall/density/coverage on VGG16 fc2 features
    "stacked_samples": 26_000,  # samples for the 1000-mode count on stacked datasets (VEEGAN, PacGAN)
    "mixture_samples": 2_500,  # samples per evaluation of a 2-D mixture (VEEGAN, PacGAN); not num_samples
    "mode_min_share": 0.1,  # a mode/class is "reached" with ≥ this fraction of a uniform share of the samples
    "memorization_samples": 1000,  # generated / held-out samples in the nearest-training-neighbour check
    "classifier": {"epochs": 1, "batch_size": 128, "lr": 1e-3, "min_accuracy": 0.8, "seed": 0, "width": 16},
}
REPORT_DEFAULTS: dict[str, Any] = {"baseline": None, "bootstrap": 2000, "alpha": 0.05}
RUNTIME_DEFAULTS: dict[str, Any] = {"device": "auto", "threads": None, "deterministic": False, "amp": False,
                                     "compile": False, "cudnn_benchmark": False}
OPTIMIZER_DEFAULTS: dict[str, Any] = {"name": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999], "momentum": 0.0}
SETTINGS_DEFAULTS: dict[str, Any] = {
    "architecture": {"name": "mlp"},
    "loss": {"name": "nonsaturating"},
    "optimizer": OPTIMIZER_DEFAULTS,
    "z_dim": 64,
    "batch_size": 64,
    "steps": 1000,
    "d_steps": 1,
    "tricks": {},
    "checkpoint_every": 250,
    "log_every": 25,
    "snapshots": 4,
    "conditional": "none",
}
_NAMED = ("architecture", "loss")


def _named(value: Any) -> dict[str, Any]:
    return {"name": value} if isinstance(value, str) else dict(value)


def merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``delta`` over ``base``. A component dict whose ``name`` changes replaces the old one whole
    (its options belong to the old component); ``None`` in ``tricks`` removes a trick set by the base."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        if key in _NAMED:
            value = _named(value)
            old = _named(out.get(key, {"name": None}))
            out[key] = {**old, **value} if old.get("name") == value["name"] else value
        elif key == "tricks":
            tricks = dict(out.get("tricks") or {})
            for name, opts in (value or {}).items():
                if opts is None or opts is False:
                    tricks.pop(name, None)
                elif isinstance(opts, dict) and isinstance(tricks.get(name), dict):
                    tricks[name] = {**tricks[name], **opts}
                else:
                    tricks[name] = opts
            out["tricks"] = tricks
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Run:
    dataset: str
    variant: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.variant}/seed{self.seed}"


class Config:
    """A validated benchmark configuration."""

    def __init__(self, raw: dict[str, Any], source: str = "<config>"):
        self.source = source
        self.raw = raw
        validate_schema(raw, source)
        self.seeds: list[int] = list(raw["seeds"])
        self.datasets: dict[str, dict[str, Any]] = {k: dict(v or {}) for k, v in raw["datasets"].items()}
        self.defaults = merge(SETTINGS_DEFAULTS, raw.get("defaults") or {})
        self.evaluation = merge(EVALUATION_DEFAULTS, raw.get("evaluation") or {})
        self.report = merge(REPORT_DEFAULTS, raw.get("report") or {})
        self.runtime = merge(RUNTIME_DEFAULTS, raw.get("runtime") or {})
        self.title = raw.get("title", "ganbench")
        self.variant_names = [v["name"] for v in raw["variants"]]
        self.check()

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | Path) -> "Config":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
        return cls(raw, str(path))

    # ---------------------------------------------------------------- queries
    def dataset_builder(self, name: str):
        from ganbench.data import make_builder

        if name not in self.datasets:
            raise ConfigError(f"datasets: no dataset {name!r} in {self.source}; have {', '.join(self.datasets)}")
        options = dict(self.datasets[name])
        registry_name = options.pop("type", name)
        return make_builder(name, options, registry_name)

    @cached_property
    def _builders(self) -> dict[str, Any]:
        return {name: self.dataset_builder(name) for name in self.datasets}

    def settings(self, variant: str) -> dict[str, Any]:
        """The variant's full training settings: defaults with the variant's delta merged in."""
        for delta in self.raw["variants"]:
            if delta["name"] == variant:
                return merge(self.defaults, delta)
        raise ConfigError(f"variants: no variant {variant!r}; have {', '.join(self.variant_names)}")

    def label(self, variant: str) -> str:
        return self.settings(variant).get("label") or variant

    def variant_datasets(self, variant: str) -> list[str]:
        settings = self.settings(variant)
        if "datasets" in settings:
            return list(settings["datasets"])
        arch = _architecture_class(settings)
        conditional = settings.get("conditional", "none") != "none"
        return [d for d, b in self._builders.items()
                if arch.supports(b.kind, b.shape) is None and (b.num_classes > 0 or not conditional)]

    def runs(self) -> Iterator[Run]:
        for variant in self.variant_names:
            for dataset in self.variant_datasets(variant):
                for seed in self.seeds:
                    yield Run(dataset, variant, seed)

    def image_datasets(self) -> list[str]:
        return [d for d, b in self._builders.items() if b.kind == "image"]

    def baseline(self) -> str:
        return self.report["baseline"] or self.variant_names[0]

    # ---------------------------------------------------------------- semantic checks
    def check(self) -> None:
        from ganbench.losses import LOSSES
        from ganbench.tricks import TRICKS

        builders = self._builders  # validates dataset names and options
        seen: set[str] = set()
        for i, delta in enumerate(self.raw["variants"]):
            key = f"variants[{i}]"
            name = delta["name"]
            if name in seen:
                raise ConfigError(f"{key}.name: duplicate variant name {name!r}")
            seen.add(name)
            settings = merge(self.defaults, delta)
            arch_cls = _architecture_class(settings, key)
            loss_cls = LOSSES.get(settings["loss"]["name"], key=f"{key}.loss.name")
            loss_cls({k: v for k, v in settings["loss"].items() if k != "name"}, f"{key}.loss")
            if arch_cls.training_model != "gan" and settings.get("tricks"):
                trick = next(iter(settings["tricks"]))
                raise ConfigError(f"{key}.tricks.{trick}: tricks hook into the adversarial step; architecture "
                                  f"{settings['architecture']['name']!r} trains a non-adversarial "
                                  f"{arch_cls.training_model} (remove it, e.g. `tricks: {{{trick}: null}}`)")
            for trick, options in (settings.get("tricks") or {}).items():
                trick_cls = TRICKS.get(trick, key=f"{key}.tricks.{trick}")
                if options is not None and not isinstance(options, (dict, bool)):
                    raise ConfigError(f"{key}.tricks.{trick}: expected a mapping of options or true, got {options!r}")
                trick_cls(options if isinstance(options, dict) else {}, f"{key}.tricks.{trick}")
                trick_cls.validate(settings, f"{key}.tricks.{trick}")
            conditional = settings.get("conditional", "none")
            if conditional != "none":
                if arch_cls.training_model != "gan":
                    raise ConfigError(f"{key}.conditional: {conditional!r} conditions a GAN; architecture "
                                      f"{settings['architecture']['name']!r} trains a {arch_cls.training_model}")
                if conditional == "projection" and "pacgan" in (settings.get("tricks") or {}):
                    raise ConfigError(f"{key}.tricks.pacgan: packing stacks several samples into one D input, "
                                      "which the projection discriminator cannot split into image and label; "
                                      "use conditional: concat")
            for dataset in delta.get("datasets", []):
                if dataset not in builders:
                    raise ConfigError(f"{key}.datasets: unknown dataset {dataset!r}; have {', '.join(builders)}")
                if conditional != "none" and not builders[dataset].num_classes:
                    raise ConfigError(f"{key}.conditional: dataset {dataset!r} has no class labels to condition on")
                reason = arch_cls.supports(builders[dataset].kind, builders[dataset].shape)
                if reason:
                    raise ConfigError(f"{key}.architecture: {settings['architecture']['name']} {reason} "
                                      f"(dataset {dataset!r})")
            for dataset, builder in builders.items():
                if arch_cls.supports(builder.kind, builder.shape) is None:
                    arch_cls(builder.shape, builder.kind, settings["z_dim"], builder.num_classes,
                             {k: v for k, v in settings["architecture"].items() if k != "name"},
                             f"{key}.architecture")
            if not self.variant_datasets(name):
                raise ConfigError(f"{key}: architecture {settings['architecture']['name']!r} fits none of the "
                                  f"datasets ({', '.join(builders)})")
        if self.report["baseline"] is not None and self.report["baseline"] not in seen:
            raise ConfigError(f"report.baseline: {self.report['baseline']!r} is not a variant name")
        extra = set(self.evaluation) - set(EVALUATION_DEFAULTS)
        if extra:
            raise ConfigError(f"evaluation.{sorted(extra)[0]}: unknown key")


def _architecture_class(settings: dict[str, Any], key: str = "variant"):
    from ganbench.models import ARCHITECTURES

    return ARCHITECTURES.get(settings["architecture"]["name"], key=f"{key}.architecture.name")


def validate_schema(raw: dict[str, Any], source: str = "<config>") -> None:
    """Validate against the JSON schema; the error names the key path and what was expected."""
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        if err.context:  # oneOf/allOf: report the most specific sub-error
            err = max(err.context, key=lambda e: len(e.absolute_path))
        raise ConfigError(f"{_path(err.absolute_path) or '(top level)'}: {err.message} (in {source})")


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
