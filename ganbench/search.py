"""Hyperparameter search as part of the benchmark, after Lucic et al., "Are GANs Created Equal?" (NeurIPS 2018).

A variant (or ``defaults``, then every variant) may carry a ``search:`` block::

    search:
      method: random          # random | grid
      samples: 20             # random: the settings drawn; grid: the most settings the grid may have
      seed: 0                 # the search seed: the same config draws the same settings
      seeds: [0]              # phase-1 training seeds (default: the config's first seed)
      include_variant: false  # random: h0 is the variant's own settings instead of a draw
      metric: fid             # read on the validation split; its direction (higher or lower is better) decides
      space:                  # setting key (dotted; a number indexes a list) -> a distribution
        optimizer.lr_g: {log_uniform: [1.0e-5, 1.0e-2], also: [optimizer.lr_d]}   # one value, set at both keys
        optimizer.betas.0: {uniform: [0.0, 1.0]}
        d_steps: {choice: [1, 5]}
        loss.gp_weight: {log_uniform: [0.1, 100.0], points: 4}                  # grid: 4 points (geometric)
        architecture.batchnorm_d: null                                          # drops an entry of defaults

The protocol, as the DAG runs it (workflow/rules/search.smk):

========  ===================================================================================================
phase 1   every sampled setting ``h`` of a variant (shown as ``variant/h{k}``) trains with the search's ``seeds``
          into ``results/search/<dataset>/<variant>/h<k>/seed<s>/`` and is evaluated on the dataset's
          validation split (``datasets.<name>.val_size`` examples held out of its train split)
select    a Snakemake checkpoint per (dataset, variant) picks the setting whose mean validation metric over its
          seeds is best (a setting with a failed or diverged seed is not eligible; a tie goes to the lower h) and
          writes ``results/search/<dataset>/<variant>/selected.json``. It reads validation metrics only, and
          refuses any other.
phase 2   the ordinary runs ``results/runs/<dataset>/<variant>/seed<s>`` train the selected setting with every
          seed of the config and are evaluated on the test split. A seed phase 1 trained with that setting is the
          same run (the same identity) and is copied from phase 1, not trained again.
========  ===================================================================================================

Random samples are drawn setting by setting from ``numpy.random.default_rng([seed, k])``: raising ``samples``
keeps the settings already drawn (and their finished runs) and adds new ones. With ``include_variant`` the first
setting, h0, is the variant's own values at the searched keys (its published settings), as the study's code
(google/compare_gan) always puts each model's published defaults among its 100 settings; h1, h2, ... are the same
draws as without it. Drawn numbers are rounded to 4
significant digits, which keeps them readable in the report and exact in the config records.

The report shows the selection, the phase-1 values and the budget curves drawn from them
(``ganbench.report.search``, ``ganbench.report.budget``).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np

from ganbench.errors import ConfigError, GanbenchError
from ganbench.registry import Registry

METHODS = ("random", "grid")
SEARCH_DEFAULTS: dict[str, Any] = {"method": "random", "samples": 20, "seed": 0, "seeds": None, "metric": "fid",
                                   "include_variant": False, "space": {}}
EXTRA_KEYS = ("points", "also")  # beside the distribution's name in a space entry
DIGITS = 4  # significant digits of a drawn number
VALIDATION = "val"  # the split phase 1 is evaluated on


def _round(x: float) -> float:
    return float(f"{float(x):.{DIGITS}g}")


def _bounds(args: Any, key: str, name: str, positive: bool = False) -> tuple[float, float]:
    ok = (isinstance(args, (list, tuple)) and len(args) == 2
          and all(not isinstance(a, bool) and isinstance(a, (int, float)) and math.isfinite(a) for a in args))
    if not ok:
        raise ConfigError(f"{key}: {name} takes [low, high], two finite numbers; got {args!r}")
    low, high = float(args[0]), float(args[1])
    if low >= high:
        raise ConfigError(f"{key}: {name} needs low < high; got [{args[0]}, {args[1]}]")
    if positive and low <= 0:
        raise ConfigError(f"{key}: {name} needs 0 < low (the logarithm of the bounds is sampled); got low {args[0]}")
    return low, high


# ---------------------------------------------------------------------------------------------- distributions
class Distribution(ABC):
    """How one setting is searched: ``{<name>: args}``, plus ``points: n`` for a grid over a range."""

    name: ClassVar[str]
    continuous: ClassVar[bool] = True

    def __init__(self, args: Any, points: int | None, key: str):
        self.key = key
        self.points = points

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> Any:
        """One random value."""

    @abstractmethod
    def grid(self) -> list[Any]:
        """The values of a grid search."""

    def _points(self) -> int:
        if self.points is None:
            raise ConfigError(f"{self.key}: a grid search over the range {self.name} needs `points: n` (how many "
                              "values the grid takes from it)")
        return self.points


DISTRIBUTIONS: Registry[type[Distribution]] = Registry("search distribution")


@DISTRIBUTIONS.register("uniform")
class Uniform(Distribution):
    """A number uniform in [low, high]; a grid takes ``points`` evenly spaced values, both bounds included."""

    name = "uniform"

    def __init__(self, args: Any, points: int | None, key: str):
        super().__init__(args, points, key)
        self.low, self.high = _bounds(args, key, self.name)

    def draw(self, rng: np.random.Generator) -> float:
        return _round(rng.uniform(self.low, self.high))

    def grid(self) -> list[float]:
        return [_round(x) for x in np.linspace(self.low, self.high, self._points())]


@DISTRIBUTIONS.register("log_uniform")
class LogUniform(Distribution):
    """A positive number whose logarithm is uniform (learning rates, penalty weights); a grid: geometric spacing."""

    name = "log_uniform"

    def __init__(self, args: Any, points: int | None, key: str):
        super().__init__(args, points, key)
        self.low, self.high = _bounds(args, key, self.name, positive=True)

    def draw(self, rng: np.random.Generator) -> float:
        return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def grid(self) -> list[float]:
        return [_round(x) for x in np.geomspace(self.low, self.high, self._points())]


@DISTRIBUTIONS.register("choice")
class Choice(Distribution):
    """One of the listed values, each equally likely (null removes a trick: ``tricks.ema: {choice: [null, true]}``)."""

    name = "choice"
    continuous = False

    def __init__(self, args: Any, points: int | None, key: str):
        super().__init__(args, points, key)
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{key}: choice takes a non-empty list of values; got {args!r}")
        if points is not None:
            raise ConfigError(f"{key}.points: a choice is searched over all its values; `points` is for ranges")
        self.values = copy.deepcopy(args)

    def draw(self, rng: np.random.Generator) -> Any:
        return copy.deepcopy(self.values[int(rng.integers(len(self.values)))])

    def grid(self) -> list[Any]:
        return copy.deepcopy(self.values)


@dataclass(frozen=True)
class Param:
    """One entry of the search space: the setting it draws, its distribution, and the keys that get the same value."""

    key: str
    dist: Distribution
    also: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key, *self.also)


def parse_param(key: str, raw: Any, where: str) -> Param:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a distribution such as {{log_uniform: [1.0e-5, 1.0e-2]}} or "
                          f"{{choice: [1, 5]}}, got {raw!r}")
    names = [k for k in raw if k not in EXTRA_KEYS]
    if len(names) != 1:
        raise ConfigError(f"{where}: expected exactly one distribution (one of {', '.join(DISTRIBUTIONS.names())}) "
                          f"beside {' and '.join(EXTRA_KEYS)}; got {', '.join(map(str, names)) or 'none'}")
    cls = DISTRIBUTIONS.get(names[0], key=where)
    points = raw.get("points")
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 2):
        raise ConfigError(f"{where}.points: expected an integer >= 2, got {points!r}")
    also = raw.get("also") or []
    if not isinstance(also, list) or not all(isinstance(a, str) and a for a in also):
        raise ConfigError(f"{where}.also: expected a list of setting keys that get the same value, got {also!r}")
    return Param(key, cls(raw[names[0]], points, where), tuple(also))


# ---------------------------------------------------------------------------------------------- the search block
@dataclass(frozen=True)
class Search:
    method: str
    samples: int
    seed: int
    seeds: tuple[int, ...]  # phase-1 training seeds
    metric: str
    params: tuple[Param, ...]
    include_variant: bool = False  # h0 = the variant's own settings (random search only)


@dataclass(frozen=True)
class Sample:
    """One sampled setting ``h`` of a variant: the drawn values by setting key, and the settings delta they make."""

    h: int
    values: dict[str, Any]
    delta: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return {"h": self.h, "values": self.values, "delta": self.delta}


def parse_search(raw: dict[str, Any], where: Callable[[str], str], default_seeds: Sequence[int]) -> Search:
    """The search block of a variant (already schema-checked), validated. ``where(path)`` is the config key of a
    part of the block (``variants[2].search.space.optimizer.lr_g``), for the errors."""
    unknown = sorted(set(raw) - set(SEARCH_DEFAULTS))
    if unknown:
        raise ConfigError(f"{where(unknown[0])}: unknown search key; expected {', '.join(SEARCH_DEFAULTS)}")
    s = {**SEARCH_DEFAULTS, **raw}
    if s["method"] not in METHODS:
        raise ConfigError(f"{where('method')}: expected one of {', '.join(METHODS)}, got {s['method']!r}")
    space = {k: v for k, v in (s["space"] or {}).items() if v is not None}  # null drops an entry of defaults
    if not space:
        raise ConfigError(f"{where('space')}: a search needs at least one setting to search over")
    params = tuple(parse_param(k, space[k], where(f"space.{k}")) for k in sorted(space))
    drawn = [k for p in params for k in p.keys]
    repeated = sorted({k for k in drawn if drawn.count(k) > 1})
    if repeated:
        raise ConfigError(f"{where('space')}: {repeated[0]} is set by two entries of the space (a key and an `also`)")
    seeds = tuple(int(x) for x in (s["seeds"] if s["seeds"] is not None else list(default_seeds)[:1]))
    if s["include_variant"] and s["method"] != "random":
        raise ConfigError(f"{where('include_variant')}: only a random search includes the variant's own settings "
                          f"(a grid is searched whole, and its points need not contain them); got method "
                          f"{s['method']!r}")
    return Search(s["method"], int(s["samples"]), int(s["seed"]), seeds, str(s["metric"]), params,
                  bool(s["include_variant"]))


def value_at(settings: dict[str, Any], key: str, where: str) -> Any:
    """The value of the dotted ``key`` in ``settings`` (a number indexes a list)."""
    node: Any = settings
    parts = key.split(".")
    for i, part in enumerate(parts):
        path = ".".join(parts[:i + 1])
        if isinstance(node, dict) and part not in node:
            raise ConfigError(f"{where}: include_variant needs the variant's own value of {key!r}, and it sets no "
                              f"{path!r}; set it in the variant (or defaults)")
        node = node[_child(node, part, path, where)]
    return copy.deepcopy(node)


def draws(search: Search, where: Callable[[str], str],
          settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The drawn values of every setting, in order h = 0, 1, ...: {space key: value}. With ``include_variant``,
    h0 is read from the variant's ``settings``."""
    if search.method == "random":
        out = []
        for h in range(search.samples):
            if h == 0 and search.include_variant:
                if settings is None:
                    raise ValueError("include_variant: draws() needs the variant's settings")
                out.append({p.key: value_at(settings, p.key, where(f"space.{p.key}")) for p in search.params})
                continue
            rng = np.random.default_rng([search.seed, h])
            out.append({p.key: p.dist.draw(rng) for p in search.params})
        return out
    grid = [p.dist.grid() for p in search.params]
    size = math.prod(len(values) for values in grid)
    if size > search.samples:
        raise ConfigError(f"{where('samples')}: the grid has {size} settings "
                          f"({' × '.join(str(len(v)) for v in grid)}), more than samples: {search.samples}; raise "
                          "samples or narrow the space")
    return [{p.key: v for p, v in zip(search.params, combo)} for combo in itertools.product(*grid)]


# ---------------------------------------------------------------------------------------------- settings deltas
_INDEX = re.compile(r"\d+")


def _child(node: Any, part: str, path: str, where: str) -> Any:
    if isinstance(node, list):
        if not _INDEX.fullmatch(part) or int(part) >= len(node):
            raise ConfigError(f"{where}: {path!r} indexes a list of {len(node)} value(s); expected 0..{len(node) - 1}")
        return int(part)
    if isinstance(node, dict):
        return part
    raise ConfigError(f"{where}: {path!r} goes inside {node!r}, which is not a mapping or a list")


def assign(settings: dict[str, Any], key: str, value: Any, where: str, searchable: Iterable[str]) -> None:
    """Set the dotted ``key`` of ``settings`` (in place). Every part but the last must exist already: a search
    tunes what a variant has (a trick it uses, a per-network optimizer it sets), it does not add components."""
    parts = key.split(".")
    if parts[0] not in set(searchable):
        raise ConfigError(f"{where}: {parts[0]!r} is not a training setting that can be searched; expected one of "
                          f"{', '.join(sorted(searchable))}")
    node: Any = settings
    for i, part in enumerate(parts[:-1]):
        slot = _child(node, part, ".".join(parts[:i + 1]), where)
        nxt = node[slot] if isinstance(node, list) else node.get(slot)
        if nxt is True:  # a trick switched on with its defaults: its options are a mapping to set
            nxt = node[slot] = {}
        if not isinstance(nxt, (dict, list)):
            raise ConfigError(f"{where}: the variant has no {'.'.join(parts[:i + 1])} to set {parts[-1]!r} in "
                              "(set it in the variant first, then search inside it)")
        node = nxt
    node[_child(node, parts[-1], key, where)] = copy.deepcopy(value)


def delta_of(settings: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The smallest settings delta that carries ``keys`` of ``settings``: nested mappings down to each key, or
    down to the list that holds it (a list is replaced whole when merged)."""
    delta: dict[str, Any] = {}
    for key in keys:
        node: Any = settings
        out = delta
        parts = key.split(".")
        for i, part in enumerate(parts):
            if isinstance(node.get(part) if isinstance(node, dict) else None, list) or i == len(parts) - 1:
                out[part] = copy.deepcopy(node[part])
                break
            out = out.setdefault(part, {})
            node = node[part]
    return delta


def expand(search: Search, settings: dict[str, Any], where: Callable[[str], str],
           searchable: Iterable[str]) -> list[Sample]:
    """Every sampled setting of a variant whose resolved ``settings`` are given: its values and settings delta."""
    samples = []
    for h, values in enumerate(draws(search, where, settings)):
        full = copy.deepcopy(settings)
        for p in search.params:
            for key in p.keys:
                assign(full, key, values[p.key], where(f"space.{p.key}"), searchable)
        samples.append(Sample(h, values, delta_of(full, [k for p in search.params for k in p.keys])))
    return samples


def probes(search: Search, settings: dict[str, Any], where: Callable[[str], str],
           searchable: Iterable[str]) -> list[Sample]:
    """Every value of every ``choice`` of the space set alone over the variant's settings (``h`` -1): checked like
    the samples, so a value a component refuses is found even when no draw has picked it yet."""
    out = []
    for p in search.params:
        if isinstance(p.dist, Choice):
            for value in p.dist.values:
                full = copy.deepcopy(settings)
                for key in p.keys:
                    assign(full, key, value, where(f"space.{p.key}"), searchable)
                out.append(Sample(-1, {p.key: value}, delta_of(full, p.keys)))
    return out


def refused(exc: ConfigError, variant_key: str, search: Search, sample: Sample, where: Callable[[str], str]
            ) -> ConfigError:
    """A sample's settings failed the config check: the same error, named by the space entry that set the value
    (the one whose key the error's key starts with), else by the search's space."""
    message = str(exc)
    path = ""
    if message.startswith(variant_key):
        path = re.sub(r"\[(\d+)\]", r".\1", message[len(variant_key):].split(":", 1)[0]).lstrip(".")
    owner = next((p for p in search.params for k in p.keys if path == k or path.startswith(k + ".")
                  or k.startswith(path + ".")), None) if path else None
    key = where(f"space.{owner.key}") if owner else where("space")
    value = sample.values[owner.key] if owner else sample.values
    what = "the value" if sample.h < 0 else f"setting h{sample.h}"
    return ConfigError(f"{key}: {what} ({value!r}) is refused: {message}")


# ---------------------------------------------------------------------------------------------- selection
def higher_is_better(metric: str, key: str = "search.metric") -> bool:
    """The direction a search selects in: the declared score's (``ganbench.metrics.registry``). A metric whose
    best value is no extreme (``floor``: closest to the data's own value; ``none``) cannot rank settings."""
    from ganbench.metrics.registry import score_registry

    spec = score_registry().get(metric, key=key)
    if spec.better not in ("higher", "lower"):
        raise ConfigError(f"{key}: {metric!r} has no higher- or lower-is-better direction ({spec.direction}); "
                          "a search selects by a metric it can rank, e.g. fid")
    return spec.better == "higher"


def select(spec: dict[str, Any], metrics: Iterable[tuple[str | Path, dict[str, Any]]]) -> dict[str, Any]:
    """Pick the best setting of one (dataset, variant) from its phase-1 metrics.

    ``spec`` (``ganbench.specs.select_spec``): dataset, variant, metric, higher_is_better, seeds (phase 1) and
    samples (h, values, delta). ``metrics``: (path, metrics.json content) of every phase-1 run. A setting's value is
    the mean of its seeds' metric; one with a seed that did not finish with a value is not eligible. Returns the
    record written to selected.json: the chosen h (None when no setting is eligible: phase 2 then trains the
    variant's own settings, and the record says why), its values and delta, and every setting's values."""
    metric, higher = spec["metric"], bool(spec["higher_is_better"])
    seeds = [int(s) for s in spec["seeds"]]
    found: dict[int, dict[int, dict[str, Any]]] = {}
    for path, m in metrics:
        split = m.get("real_split")
        if split != VALIDATION:
            raise GanbenchError(f"{path}: evaluated on the {split!r} split; a search selects on validation metrics "
                                f"only (real_split: {VALIDATION!r}), never on the test split")
        if m.get("dataset") != spec["dataset"] or m.get("variant") != spec["variant"] or "h" not in m:
            raise GanbenchError(f"{path}: metrics of {m.get('dataset')}/{m.get('variant')}/h{m.get('h')}, not of a "
                                f"phase-1 run of {spec['dataset']}/{spec['variant']}")
        found.setdefault(int(m["h"]), {})[int(m["seed"])] = m
    candidates = []
    for sample in spec["samples"]:
        runs = found.get(int(sample["h"]), {})
        per_seed = {}
        problems = []
        for seed in seeds:
            m = runs.get(seed)
            value = _finite(m.get(metric)) if m else None
            if m is None:
                problems.append(f"seed {seed}: no metrics")
            elif m.get("status") != "ok" or value is None:
                problems.append(f"seed {seed}: {m.get('status')}" + (f" ({m['message']})" if m.get("message") else ""))
            per_seed[str(seed)] = value
        values = [v for v in per_seed.values() if v is not None]
        candidates.append({**sample, "seeds": per_seed, "eligible": not problems, "problems": problems,
                           "mean": float(np.mean(values)) if values and not problems else None})
    eligible = [c for c in candidates if c["eligible"]]
    record = {"dataset": spec["dataset"], "variant": spec["variant"], "metric": metric, "higher_is_better": higher,
              "split": VALIDATION, "phase1_seeds": seeds, "candidates": candidates}
    if not eligible:
        return {**record, "selected": None, "values": {}, "delta": {}, "value": None,
                "fallback": f"no setting finished every phase-1 seed with a {metric}; phase 2 trains the variant's "
                            "own settings"}
    best = (max if higher else min)(eligible, key=lambda c: (c["mean"], -c["h"] if higher else c["h"]))
    return {**record, "selected": best["h"], "values": best["values"], "delta": best["delta"], "value": best["mean"],
            "fallback": None}


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
