"""Benchmark configuration: load, validate, and expand into runs.

A config names datasets, seeds and variants; each variant is a small delta over ``defaults`` (StudioGAN style).
Validation happens in two layers, both before any job starts:

1. the JSON schema (``ganbench/schemas/config.schema.yaml``, also used by the Snakefile through
   ``snakemake.utils.validate``): structure, types, ranges, unknown keys;
2. ``check``: names against the registries (datasets, architectures, losses, tricks), options of each component
   (type and declared range, ``ganbench.options``), duplicate variant names, and combinations (an architecture that
   cannot model a dataset, a trick that does not fit the loss, what a loss's paper rules out: the components'
   ``validate``). A variant with a ``search:`` block (``ganbench.search``) has every sampled setting checked the
   same way, the error named by the search-space entry that drew the refused value.

Every error is a ConfigError whose message starts with the offending key, e.g. ``variants[2].loss.name: ...``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import yaml

from ganbench.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ganbench.search import Sample, Search

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"

# The evaluation options that several parts read (sample counts, the feature networks, the domain classifier);
# an option that one metric family alone reads is declared by its module (``ganbench.metrics.registry.Option``),
# and ``evaluation_defaults()`` adds those.
EVALUATION_SHARED_DEFAULTS: dict[str, Any] = {
    "num_samples": 10_000,
    "batch_size": 500,
    "real_split": "test",
    "seed": 2024,
    "feature_extractor": "ganbench-classifier",
    "feature_extractor_weights": None,
    "prc_feature_extractor": None,  # "vgg16": precision/recall/density/coverage on VGG16 fc2 features
    "prc_feature_extractor_weights": None,  # a local VGG16 weights file (implies vgg16); none: downloaded
    "weights_mirrors": None,  # where inception/vgg16 weights are downloaded from (ganbench.weights); none: official
    "weights_cache": None,  # the folder downloaded weights are kept in (shared by benchmarks); none: results/weights
    "stacked_samples": 26_000,  # samples for the 1000-mode count on stacked datasets (VEEGAN, PacGAN)
    "mixture_samples": 2_500,  # samples per evaluation of a 2-D mixture (VEEGAN, PacGAN); not num_samples
    "mode_min_share": 0.1,  # a mode/class is "reached" with ≥ this fraction of a uniform share of the samples
    "truncation_psi": None,  # stylegan: ψ for every metric (null: the run's architecture option, 1.0 = none)
    "classifier": {"epochs": 1, "batch_size": 128, "lr": 1e-3, "min_accuracy": 0.8, "seed": 0, "width": 16},
}


@functools.cache
def _evaluation_defaults() -> dict[str, Any]:
    from ganbench.metrics.registry import DeclarationError, options

    owned = options()
    clash = sorted(set(owned) & set(EVALUATION_SHARED_DEFAULTS))
    if clash:
        raise DeclarationError(f"evaluation option {clash[0]!r} is declared by a metric and by ganbench.config")
    return {**EVALUATION_SHARED_DEFAULTS, **{name: option.default for name, option in owned.items()}}


def evaluation_defaults() -> dict[str, Any]:
    """Every option of the ``evaluation`` section with its default: the shared ones and those the metric modules
    declare (a copy: change it freely)."""
    return copy.deepcopy(_evaluation_defaults())


REPORT_DEFAULTS: dict[str, Any] = {"baseline": None, "bootstrap": 2000, "alpha": 0.05, "mixing_table": None}
RUNTIME_DEFAULTS: dict[str, Any] = {"device": "auto", "threads": None, "deterministic": False, "amp": False,
                                     "compile": False, "cudnn_benchmark": False}
OPTIMIZER_DEFAULTS: dict[str, Any] = {"name": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999],
                                       "momentum": 0.0}
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
    (its options belong to the old component), one without a ``name`` sets options of the old one; ``None`` in
    ``tricks`` removes a trick set by the base."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        if key in _NAMED:
            value = _named(value)
            old = _named(out.get(key, {"name": None}))
            # options without a name adjust the component already chosen; a new name replaces it whole
            out[key] = {**old, **value} if value.get("name", old.get("name")) == old.get("name") else value
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
        """The run folder below ``results/runs`` (``ganbench.runs.run_path``)."""
        from ganbench.runs import run_path

        return run_path("", self.dataset, self.variant, self.seed).relative_to("runs").as_posix()


@dataclass(frozen=True)
class SearchRun:
    """A phase-1 run of a hyperparameter search: sampled setting ``h`` of a variant, trained with ``seed``."""

    dataset: str
    variant: str
    h: int
    seed: int

    @property
    def path(self) -> str:
        """The run folder below ``results`` (``ganbench.runs.search_run_path``)."""
        from ganbench.runs import search_run_path

        return search_run_path("", self.dataset, self.variant, self.h, self.seed).as_posix()


class Config:
    """A validated benchmark configuration."""

    def __init__(self, raw: dict[str, Any], source: str = "<config>"):
        self.source = source
        self.raw = raw
        validate_schema(raw, source)
        self.seeds: list[int] = list(raw["seeds"])
        self.datasets: dict[str, dict[str, Any]] = {k: dict(v or {}) for k, v in raw["datasets"].items()}
        self.defaults = merge(SETTINGS_DEFAULTS, raw.get("defaults") or {})
        self.evaluation = merge(evaluation_defaults(), raw.get("evaluation") or {})
        self.report = merge(REPORT_DEFAULTS, raw.get("report") or {})
        self.runtime = merge(RUNTIME_DEFAULTS, raw.get("runtime") or {})
        self.title = raw.get("title", "ganbench")
        self.variant_names = [v["name"] for v in raw["variants"]]
        self._searches: dict[str, tuple[Search | None, list[Sample]]] = {}
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
        """The variant's full training settings: its delta merged over ``defaults``, or over the resolved settings
        of the variant it ``extends`` (a cumulative chain, each row a delta over the one before; the parent's
        ``label`` is not inherited)."""
        return self._resolve(variant, ())

    def _delta(self, variant: str) -> tuple[int, dict[str, Any]]:
        for i, delta in enumerate(self.raw["variants"]):
            if delta["name"] == variant:
                return i, delta
        raise ConfigError(f"variants: no variant {variant!r}; have {', '.join(self.variant_names)}")

    def _resolve(self, variant: str, chain: tuple[str, ...]) -> dict[str, Any]:
        i, delta = self._delta(variant)
        parent = delta.get("extends")
        if parent is None:
            return merge(self.defaults, delta)
        key = f"variants[{i}].extends"
        if parent not in self.variant_names:
            raise ConfigError(f"{key}: no variant {parent!r} to extend; have {', '.join(self.variant_names)}")
        if parent in (*chain, variant):
            loop = chain[chain.index(parent):] if parent in chain else ()
            cycle = " → ".join((*loop, variant, parent))
            raise ConfigError(f"{key}: the chain of `extends` has a cycle: {cycle}")
        base = {k: v for k, v in self._resolve(parent, (*chain, variant)).items() if k != "label"}
        return merge(base, {k: v for k, v in delta.items() if k != "extends"})

    def runtime_of(self, variant: str) -> dict[str, Any]:
        """The runtime switches a variant trains with: the top-level ``runtime`` with the variant's own (or
        ``defaults``') ``runtime:`` keys over it."""
        return merge(self.runtime, self.settings(variant).get("runtime") or {})

    def label(self, variant: str) -> str:
        return self.settings(variant).get("label") or variant

    def variant_datasets(self, variant: str) -> list[str]:
        settings = self.settings(variant)
        if "datasets" in settings:
            return list(settings["datasets"])
        from ganbench.train.conditioning import CONDITIONINGS

        arch = _architecture_class(settings)
        conditional = CONDITIONINGS.get(settings.get("conditional", "none"), key="conditional").active
        return [d for d, b in self._builders.items()
                if arch.supports(b.kind, b.shape) is None and (b.num_classes > 0 or not conditional)]

    def runs(self) -> Iterator[Run]:
        for variant in self.variant_names:
            for dataset in self.variant_datasets(variant):
                for seed in self.seeds:
                    yield Run(dataset, variant, seed)

    # ---------------------------------------------------------------- hyperparameter search (ganbench.search)
    def search(self, variant: str) -> Search | None:
        """The variant's search (its own ``search:``, its parent's, or ``defaults``'), validated; None without."""
        return self._search(variant)[0]

    def samples(self, variant: str) -> list[Sample]:
        """The sampled settings h = 0, 1, ... of a searched variant (none for a variant that does not search)."""
        return self._search(variant)[1]

    def sample_settings(self, variant: str, h: int) -> dict[str, Any]:
        """The full settings of sampled setting ``h``: the variant's settings with the sample's delta."""
        samples = self.samples(variant)
        if not 0 <= int(h) < len(samples):
            raise ConfigError(f"variant {variant!r} has no search setting h{h} (it has {len(samples)})")
        return merge(self.settings(variant), samples[int(h)].delta)

    def searched(self) -> list[tuple[str, str]]:
        """(dataset, variant) of every search: each gets its phase 1 and a selection."""
        return [(d, v) for v in self.variant_names if self.search(v) for d in self.variant_datasets(v)]

    def search_runs(self) -> Iterator[SearchRun]:
        for dataset, variant in self.searched():
            search = self.search(variant)
            for sample in self.samples(variant):
                for seed in search.seeds:
                    yield SearchRun(dataset, variant, sample.h, seed)

    def _levels(self, variant: str) -> list[tuple[str, dict[str, Any]]]:
        """Where a variant's settings come from, nearest first: its own delta, the variants it extends, defaults."""
        levels: list[tuple[str, dict[str, Any]]] = []
        name: str | None = variant
        while name is not None and name not in [lv[1].get("name") for lv in levels]:
            i, delta = self._delta(name)
            levels.append((f"variants[{i}]", delta))
            name = delta.get("extends")
        return levels + [("defaults", self.raw.get("defaults") or {})]

    def search_key(self, variant: str) -> Callable[[str], str]:
        """``where(path)``: the config key of a part of the variant's search block (``samples``, ``space.<key>``),
        at the level that sets it (the variant, a variant it extends, or defaults)."""
        levels = self._levels(variant)

        def where(path: str) -> str:
            head, _, rest = path.partition(".")
            for prefix, delta in levels:
                block = delta.get("search") if isinstance(delta.get("search"), dict) else None
                if block is not None and (not path or (head in block and (
                        not rest or (isinstance(block[head], dict) and rest in block[head])))):
                    return f"{prefix}.search" + (f".{path}" if path else "")
            prefix = next((p for p, d in levels if isinstance(d.get("search"), dict)), levels[0][0])
            return f"{prefix}.search" + (f".{path}" if path else "")

        return where

    def _search(self, variant: str) -> tuple[Search | None, list[Sample]]:
        if variant not in self._searches:
            from ganbench.search import expand, parse_search

            raw = self.settings(variant).get("search")
            if not raw:
                self._searches[variant] = (None, [])
            else:
                where = self.search_key(variant)
                search = parse_search(raw, where, self.seeds)
                self._searches[variant] = (search, expand(search, self.settings(variant), where, searchable_keys()))
        return self._searches[variant]

    def image_datasets(self) -> list[str]:
        return [d for d, b in self._builders.items() if b.kind == "image"]

    def baseline(self) -> str:
        return self.report["baseline"] or self.variant_names[0]

    # ---------------------------------------------------------------- semantic checks
    def check(self) -> None:
        builders = self._builders  # validates dataset names and options
        seen: set[str] = set()
        for i, delta in enumerate(self.raw["variants"]):
            key = f"variants[{i}]"
            name = delta["name"]
            if name in seen:
                raise ConfigError(f"{key}.name: duplicate variant name {name!r}")
            seen.add(name)
            self._check_settings(self.settings(name), key, builders)
            if not self.variant_datasets(name):
                raise ConfigError(f"{key}: architecture {self.settings(name)['architecture']['name']!r} fits none of "
                                  f"the datasets ({', '.join(builders)})")
            self._check_search(name, key, builders)

        from ganbench.metrics.extractors import check_options

        check_options(self.evaluation)
        from ganbench.metrics.registry import options

        for name, option in options().items():
            if option.check is not None:
                option.check(self.evaluation[name])
        if self.report["baseline"] is not None and self.report["baseline"] not in seen:
            raise ConfigError(f"report.baseline: {self.report['baseline']!r} is not a variant name")
        for i, name in enumerate(self.report["mixing_table"] or []):
            if name not in seen:
                raise ConfigError(f"report.mixing_table[{i}]: {name!r} is not a variant name")
        extra = set(self.evaluation) - set(_evaluation_defaults())
        if extra:
            raise ConfigError(f"evaluation.{sorted(extra)[0]}: unknown key")
        if self.evaluation["real_split"] == "val":
            for dataset in self.image_datasets():
                if not builders[dataset].options.get("val_size"):
                    raise ConfigError(f"evaluation.real_split: 'val' needs a validation split on every image dataset; "
                                      f"set datasets.{dataset}.val_size")

    def _check_settings(self, settings: dict[str, Any], key: str, builders: dict[str, Any],
                        architectures: bool = True) -> None:
        """Every component and combination of one variant's resolved settings (``architectures``: also build its
        networks for every dataset it fits, which a search sample that leaves the architecture alone skips)."""
        from ganbench.losses import LOSSES
        from ganbench.models import ARCHITECTURES
        from ganbench.train.conditioning import CONDITIONINGS
        from ganbench.train.models import TRAINING_MODELS
        from ganbench.train.optim import check_optimizers
        from ganbench.tricks import TRICKS

        arch_cls = _architecture_class(settings, key)
        model_cls = TRAINING_MODELS.get(arch_cls.training_model, key=f"{key}.architecture.name")
        loss = LOSSES.build(settings["loss"], f"{key}.loss")  # its options: declared defaults and ranges
        check_optimizers(settings["optimizer"], f"{key}.optimizer")
        if not model_cls.adversarial and settings.get("tricks"):
            trick = next(iter(settings["tricks"]))
            raise ConfigError(f"{key}.tricks.{trick}: tricks hook into the adversarial step; architecture "
                              f"{settings['architecture']['name']!r} trains a non-adversarial "
                              f"{arch_cls.training_model} (remove it, e.g. `tricks: {{{trick}: null}}`)")
        trick_classes = {}
        for trick, options in (settings.get("tricks") or {}).items():
            trick_cls = TRICKS.get(trick, key=f"{key}.tricks.{trick}")
            if options is not None and not isinstance(options, (dict, bool)):
                raise ConfigError(f"{key}.tricks.{trick}: expected a mapping of options or true, got {options!r}")
            trick_cls.configured(settings, f"{key}.tricks.{trick}")  # options: declared defaults and ranges
            trick_classes[trick] = trick_cls
        conditional = settings.get("conditional", "none")
        conditioned = CONDITIONINGS.get(conditional, key=f"{key}.conditional").active
        if conditioned and not model_cls.adversarial:
            raise ConfigError(f"{key}.conditional: {conditional!r} conditions a GAN; architecture "
                              f"{settings['architecture']['name']!r} trains a {arch_cls.training_model}")
        for dataset in settings.get("datasets", []):
            if dataset not in builders:
                raise ConfigError(f"{key}.datasets: unknown dataset {dataset!r}; have {', '.join(builders)}")
            if conditioned and not builders[dataset].num_classes:
                raise ConfigError(f"{key}.conditional: dataset {dataset!r} has no class labels to condition on")
            reason = arch_cls.supports(builders[dataset].kind, builders[dataset].shape)
            if reason:
                raise ConfigError(f"{key}.architecture: {settings['architecture']['name']} {reason} "
                                  f"(dataset {dataset!r})")
        for builder in builders.values() if architectures else ():
            if arch_cls.supports(builder.kind, builder.shape) is None:
                ARCHITECTURES.build(settings["architecture"], f"{key}.architecture", builder.shape, builder.kind,
                                    settings["z_dim"], builder.num_classes)
        # combinations, once every component's own options are known to be valid
        if model_cls.adversarial:
            loss.validate(settings, f"{key}.loss")
        for trick, trick_cls in trick_classes.items():
            trick_cls.validate(settings, f"{key}.tricks.{trick}")

    def _check_search(self, variant: str, key: str, builders: dict[str, Any]) -> None:
        """A searched variant: a validation split on each of its datasets, a selection metric they produce, and
        every sampled setting valid (the error names the space entry that drew the refused value)."""
        from ganbench.metrics.registry import score_registry
        from ganbench.search import higher_is_better, probes, refused

        search = self.search(variant)
        if search is None:
            return
        where = self.search_key(variant)
        spec = score_registry().get(search.metric, key=where("metric"))
        higher_is_better(search.metric, where("metric"))
        for dataset in self.variant_datasets(variant):
            builder = builders[dataset]
            if not builder.options.get("val_size"):
                raise ConfigError(f"{where('')}: dataset {dataset!r} has no validation split to select on (the test "
                                  f"split is for the final numbers); set datasets.{dataset}.val_size, the examples "
                                  "held out of its train split (e.g. 1000), or restrict the variant's datasets")
            if builder.kind not in spec.kinds:
                raise ConfigError(f"{where('metric')}: {search.metric!r} is a metric of {'/'.join(spec.kinds)} "
                                  f"datasets; dataset {dataset!r} holds {builder.kind} (restrict the variant's "
                                  "datasets)")
        touches_networks = any(k.split(".")[0] in ("architecture", "z_dim") for p in search.params for k in p.keys)
        for sample in [*self.samples(variant), *probes(search, self.settings(variant), where, searchable_keys())]:
            settings = merge(self.settings(variant), sample.delta)
            try:
                validate_settings(settings, key)
                self._check_settings(settings, key, builders, architectures=touches_networks)
            except ConfigError as exc:
                raise refused(exc, key, search, sample, where) from None


def write_config(raw: dict[str, Any], path: str | Path, log: str | Path | None = None) -> None:
    """Write a config (as validated) to ``path`` atomically, in YAML that ``Config.load`` reads back; ``log``: a
    file to say so in (the Snakemake job's log)."""
    from ganbench.io import write_text

    write_text(path, yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    if log is not None:
        write_text(log, f"config with {len(raw.get('variants', []))} variant(s) written to {path}\n")


def _architecture_class(settings: dict[str, Any], key: str = "variant"):
    from ganbench.models import ARCHITECTURES

    return ARCHITECTURES.get(settings["architecture"]["name"], key=f"{key}.architecture.name")


@functools.cache
def _schema() -> dict[str, Any]:
    """The config schema: the file (which Snakemake's ``validate`` reads) with the evaluation options the metric
    modules declare added, and every other evaluation key refused."""
    from ganbench.metrics.registry import options

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    evaluation = schema["properties"]["evaluation"]
    evaluation["properties"].update({name: option.schema for name, option in options().items()})
    evaluation["additionalProperties"] = False
    return schema


@functools.cache
def _validator(definition: str | None = None):
    import jsonschema

    schema = _schema()
    if definition is not None:  # one of the schema's definitions, with the others it refers to
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(schema)


def _first_error(raw: Any, definition: str | None = None):
    errors = sorted(_validator(definition).iter_errors(raw), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return None
    err = errors[0]
    if err.context:  # oneOf/allOf: report the most specific sub-error
        err = max(err.context, key=lambda e: len(e.absolute_path))
    return err


def validate_schema(raw: dict[str, Any], source: str = "<config>") -> None:
    """Validate against the JSON schema; the error names the key path and what was expected."""
    err = _first_error(raw)
    if err is not None:
        raise ConfigError(f"{_path(err.absolute_path) or '(top level)'}: {err.message} (in {source})")


def validate_settings(settings: dict[str, Any], key: str) -> None:
    """Validate one variant's resolved settings against the schema's settings definition; the error names
    ``key.<path>``."""
    err = _first_error(settings, "settings")
    if err is not None:
        path = _path(err.absolute_path)
        raise ConfigError(f"{key}{'.' + path if path and not path.startswith('[') else path}: {err.message}")


def searchable_keys() -> list[str]:
    """The training settings a search may set: the schema's settings without the display and protocol keys."""
    from ganbench.specs import DISPLAY_KEYS

    return sorted(set(_schema()["$defs"]["settings"]["properties"]) - {*DISPLAY_KEYS, "extends"})


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
