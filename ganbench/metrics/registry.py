"""The one declaration of every metric: what it computes, when, from what, and how the report shows it.

A metric module declares a family of numbers with ``@metric(...)`` on the function that computes them for one run.
Evaluation (which families apply to a run, what they return), the real-vs-real floor (the "data" row), the report's
tables (label, better direction, format, description) and its figures all read ``METRICS``; nothing else lists
metrics. A new metric is one module plus its name in ``MODULES``::

    from ganbench.metrics.registry import Score, metric

    @metric("sharpness", kinds=("image",), needs=("features",),
            scores=(Score("sharpness", "Sharpness", "higher", "{:.3f}",
                          lambda o: f"mean Laplacian variance of {o['num_samples']} samples"),))
    def sharpness(ctx):  # ctx: ganbench.metrics.context.RunContext
        return {"sharpness": ...}

- ``scores``: the scalars the report tabulates, one ``Score`` each (NaN in a run that did not finish); the
  description is a string or a function of the evaluation options (the ``evaluation`` section with its
  defaults), so it never repeats an option's value by hand.
- ``records``: the other keys ``compute`` returns (curves, counts, settings used), kept in metrics.json. A key
  that ``compute`` returns and the family does not declare, or a declared score it does not return, is a
  ``DeclarationError``: a number can neither vanish from the report nor appear unannounced.
- ``kinds``: the dataset kinds it applies to ("image", "points"); ``needs``: what it reads besides the run
  (``NEEDS``; an optional one that is absent, such as the domain classifier, makes the family not apply);
  ``when``: a further condition on the run's settings (e.g. a Wasserstein critic).
- ``floor``: the real-vs-real values (``FloorContext``: the other split plays the generator), ``real``: what the
  once-per-dataset real side stores for the runs (``RealContext``), ``figures``: the report's plots of it.
- ``options``: the ``evaluation`` options the family alone reads, one ``Option`` each (name, default, JSON schema).
  The config's schema and defaults take them from here (``ganbench.config.evaluation_defaults``), so a metric with
  options is still one module: ``evaluation.<name>`` is checked, defaulted and part of the evaluation spec like
  the shared options (``num_samples``, ``batch_size``, ``feature_extractor``, ...), which ganbench.config keeps.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ganbench.errors import GanbenchError
from ganbench.registry import Registry

if TYPE_CHECKING:
    from pathlib import Path

    from ganbench.metrics.context import FigureContext, FloorContext, RealContext, RunContext

# The modules that declare metrics, imported (and so registered) by ``load``. A new metric module adds its name.
MODULES = (
    "ganbench.metrics.fidelity",
    "ganbench.metrics.coverage",
    "ganbench.metrics.memorization",
    "ganbench.metrics.mixture",
    "ganbench.metrics.critic",
    "ganbench.metrics.reconstruction",
    "ganbench.metrics.conditional",
    "ganbench.metrics.cas",
    "ganbench.metrics.mixing",
    "ganbench.metrics.ppl",
)

DIRECTIONS = {"higher": "higher is better", "lower": "lower is better",
              "floor": "closest to the real-vs-real value (data row) is better", "none": "no better direction"}
KINDS = ("image", "points")
# What a metric may need besides the run itself: name → (what it is, whether a run can lack it). A family needing
# an optional one that a run lacks does not apply; a required one that is missing is an error when read.
NEEDS: dict[str, tuple[str, bool]] = {
    "features": ("the real split's features and their caches (real.pt of the real_features job)", False),
    "classifier": ("the dataset's domain classifier", True),
    "classes": ("class labels (a labelled dataset)", True),
    "stacked": ("a stacked dataset (a class per channel)", True),
    "heldout": ("held-out real images (the test split)", False),
    "checkpoint": ("the run's newest checkpoint (its discriminator)", False),
}


class DeclarationError(GanbenchError, TypeError):
    """A metric's declaration is incomplete or does not match what it computes (a bug in a metric module)."""


Description = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Score:
    """One scalar of a metric family as the report shows it: a table with ``label`` and ``description``, the best
    mean in bold by ``better`` (a key of ``DIRECTIONS``), cells printed with ``fmt``."""

    name: str
    label: str
    better: str
    fmt: str
    description: Description
    kinds: tuple[str, ...] = ()  # filled from the family's kinds

    def __post_init__(self) -> None:
        where = f"metric score {self.name!r}"
        if not self.name or not self.label:
            raise DeclarationError(f"{where}: needs a name and a label")
        if self.better not in DIRECTIONS:
            raise DeclarationError(f"{where}: better must be one of {', '.join(DIRECTIONS)}, not {self.better!r}")
        try:
            self.fmt.format(1.0)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise DeclarationError(f"{where}: format {self.fmt!r} cannot print a number ({exc})") from None
        if not (isinstance(self.description, str) and self.description) and not callable(self.description):
            raise DeclarationError(f"{where}: needs a description (a string, or a function of the options)")

    @property
    def direction(self) -> str:
        """The table header's words for ``better``."""
        return DIRECTIONS[self.better]

    def describe(self, options: dict[str, Any]) -> str:
        """The description for these evaluation options."""
        if isinstance(self.description, str):
            return self.description
        try:
            text = self.description(options)
        except (KeyError, TypeError) as exc:
            raise DeclarationError(f"metric score {self.name!r}: its description reads an option the evaluation "
                                   f"section does not have ({type(exc).__name__}: {exc})") from None
        if not isinstance(text, str) or not text:
            raise DeclarationError(f"metric score {self.name!r}: its description gave {text!r}, not a text")
        return text

    def format(self, value: float | None) -> str:
        return "—" if value is None or not math.isfinite(value) else self.fmt.format(value)


@dataclass(frozen=True)
class Option:
    """An option of the config's ``evaluation`` section that one metric family owns: its default and the JSON
    schema a config's value must match (a mapping of sub-options is one option with an object schema)."""

    name: str
    default: Any
    schema: dict[str, Any]
    check: Callable[[Any], None] | None = None  # a check beyond the schema at config-check time (raises ConfigError)

    def __post_init__(self) -> None:
        import jsonschema

        where = f"evaluation option {self.name!r}"
        if not self.name.isidentifier():
            raise DeclarationError(f"{where}: the name must be an identifier")
        if not self.schema.get("description"):
            raise DeclarationError(f"{where}: its schema needs a description (the config's documentation)")
        try:
            jsonschema.Draft202012Validator.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise DeclarationError(f"{where}: not a valid JSON schema ({exc.message})") from None
        problem = next(jsonschema.Draft202012Validator(self.schema).iter_errors(self.default), None)
        if problem is not None:
            raise DeclarationError(f"{where}: the default {self.default!r} fails its own schema ({problem.message})")


@dataclass(frozen=True)
class Figure:
    """A plot the report draws for each dataset a family applies to: ``make(ctx)`` returns the (title, png path)
    pairs it drew (none when there is nothing finite to show)."""

    name: str
    make: Callable[["FigureContext"], Iterable[tuple[str, "Path"]]]


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[["RunContext"], dict[str, Any]]
    scores: tuple[Score, ...]
    kinds: tuple[str, ...]
    records: tuple[str, ...] = ()
    nan_records: tuple[str, ...] = ()  # records that are NaN, like the scores, in a run that did not finish
    needs: tuple[str, ...] = ()
    when: Callable[[dict[str, Any]], bool] | None = None
    floor: Callable[["FloorContext"], dict[str, Any]] | None = None
    real: Callable[["RealContext"], dict[str, Any]] | None = None
    figures: tuple[Figure, ...] = ()
    options: tuple[Option, ...] = ()  # the evaluation options only this family reads
    position: int = 100  # tables in the report: by position, then name

    def __post_init__(self) -> None:
        where = f"metric {self.name!r}"
        if not self.kinds or set(self.kinds) - set(KINDS):
            raise DeclarationError(f"{where}: kinds must be some of {', '.join(KINDS)}, not {self.kinds!r}")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise DeclarationError(f"{where}: unknown need {sorted(unknown)[0]!r}; expected some of {', '.join(NEEDS)}")
        if not self.scores:
            raise DeclarationError(f"{where}: declares no score (what would the report show?)")
        if set(self.nan_records) - set(self.records):
            raise DeclarationError(f"{where}: nan_records must be records")
        names = [s.name for s in self.scores] + list(self.records)
        if len(set(names)) < len(names):
            raise DeclarationError(f"{where}: a key is declared twice in scores/records")

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(s.name for s in self.scores) | frozenset(self.records)

    @property
    def blank(self) -> dict[str, float]:
        """NaN for every score (and ``nan_records``): the values of a run that did not finish."""
        return {name: math.nan for name in (*(s.name for s in self.scores), *self.nan_records)}

    def applies(self, ctx: "RunContext") -> bool:
        """Whether the family runs for this run: its dataset's kind, the optional needs it has
        (``ctx.available(need)``) and ``when`` on its settings."""
        return (ctx.data.kind in self.kinds and all(ctx.available(n) for n in self.needs if NEEDS[n][1])
                and (self.when is None or bool(self.when(ctx.settings))))

    def check(self, out: dict[str, Any], what: str = "compute") -> dict[str, Any]:
        """``out`` as the declaration says (every score, nothing undeclared), else a DeclarationError."""
        undeclared = sorted(set(out) - self.keys)
        if undeclared:
            raise DeclarationError(f"metric {self.name!r}: {what} returned {', '.join(map(repr, undeclared))}, "
                                   "which its declaration lists neither as a score (shown in the report) nor as a "
                                   "record (kept in metrics.json)")
        if what == "compute":
            missing = [s.name for s in self.scores if s.name not in out]
            if missing:
                raise DeclarationError(f"metric {self.name!r}: compute did not return the declared score(s) "
                                       f"{', '.join(missing)}")
        return out


METRICS: Registry[Metric] = Registry("metric")
_loaded: list[bool] = []


def metric(name: str, *, scores: Iterable[Score], kinds: Iterable[str], **declaration: Any):
    """Declare the metric family ``name`` computed by the decorated function (see the module text)."""

    def register(compute: Callable[["RunContext"], dict[str, Any]]):
        kinds_t = tuple(kinds)
        full = tuple(Score(s.name, s.label, s.better, s.fmt, s.description, kinds_t) for s in scores)
        taken = {s.name: m for m in METRICS for s in METRICS.get(m).scores}
        for s in full:
            if s.name in taken:
                raise DeclarationError(f"metric {name!r}: score {s.name!r} is already declared by {taken[s.name]!r}")
        owned = {o.name: m for m in METRICS for o in METRICS.get(m).options}
        for o in declaration.get("options", ()):
            if o.name in owned:
                raise DeclarationError(f"metric {name!r}: evaluation option {o.name!r} is already declared by "
                                       f"{owned[o.name]!r}")
        METRICS.register(name)(Metric(name, compute, full, kinds_t, **declaration))
        return compute

    return register


def load() -> Registry[Metric]:
    """``METRICS`` with every module of ``MODULES`` imported (registered)."""
    if not _loaded:
        for module in MODULES:
            importlib.import_module(module)
        _loaded.append(True)
    return METRICS


def ordered() -> list[Metric]:
    """Every family in report order (``position``, then name)."""
    registry = load()
    return sorted((registry.get(n) for n in registry), key=lambda m: (m.position, m.name))


def options() -> dict[str, Option]:
    """Every evaluation option a metric family declares, by name (in report order of the families)."""
    return {o.name: o for family in ordered() for o in family.options}


def scores() -> Iterator[Score]:
    """Every declared score, in report order."""
    for family in ordered():
        yield from family.scores


def score_registry() -> Registry[Score]:
    """Every declared score by name (a lookup of an unknown name is a ConfigError listing the declared ones)."""
    table: Registry[Score] = Registry("metric")
    for s in scores():
        table.register(s.name)(s)
    return table


def score(name: str) -> Score:
    """The score called ``name``; an unknown one is a ConfigError listing the declared ones."""
    return score_registry().get(name)


def on_classifier(name: str) -> bool:
    """Whether score ``name`` is computed on the domain classifier's outputs (labels or features) rather than on
    the configured feature extractor's features."""
    needs = family_of(name).needs
    return "classifier" in needs and "features" not in needs


def family_of(score_name: str) -> Metric:
    for family in ordered():
        if any(s.name == score_name for s in family.scores):
            return family
    raise KeyError(score_name)

