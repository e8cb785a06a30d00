"""Option dictionaries with declared defaults: every component lists what it accepts, anything else is an error.

A component declares ``defaults`` (every option it accepts, with its default value, whose type the given value must
match) and, next to them, ``ranges``: the values an option may take (``Range(low=0)``, ``Range(0, 1, open_low=True)``,
``Choice("linear", "cosine")``). ``resolve_options`` checks both, so an impossible value (``sigma: -1``,
``real_target: 1.5``) is refused where the config is checked, naming ``key.option`` and the valid values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ganbench.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """A number between ``low`` and ``high`` (either may be None: unbounded), bounds included unless ``open_*``;
    ``integer``: a whole number; ``nullable``: null is allowed too (e.g. "use the run's value")."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    integer: bool = False
    nullable: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.open_high else value > self.high))

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            text = f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        elif self.low is not None:
            text = f"{kind} {'>' if self.open_low else '>='} {self.low:g}"
        elif self.high is not None:
            text = f"{kind} {'<' if self.open_high else '<='} {self.high:g}"
        else:
            text = kind
        return text + (" or null" if self.nullable else "")


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


Constraint = Range | Choice

# the ranges that recur
PROBABILITY = Range(0, 1)
POSITIVE = Range(0, open_low=True)
NON_NEGATIVE = Range(0)
COUNT = Range(1, integer=True)


def resolve_options(defaults: Mapping[str, Any], given: Mapping[str, Any] | None, key: str,
                    ranges: Mapping[str, Constraint] | None = None) -> dict[str, Any]:
    """Merge ``given`` over ``defaults``; an option not in ``defaults``, of another type than its default, or
    outside its declared range in ``ranges`` is a ConfigError naming ``key.option``."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "(none)"
        raise ConfigError(f"{key}.{unknown[0]}: unknown option; known options: {known}")
    for name, value in given.items():
        default = defaults[name]
        if default is not None and value is not None and not _same_kind(default, value):
            raise ConfigError(
                f"{key}.{name}: expected {type(default).__name__} (like the default {default!r}), got {value!r}"
            )
    resolved = {**defaults, **given}
    for name, constraint in (ranges or {}).items():
        if not constraint.accepts(resolved[name]):
            raise ConfigError(f"{key}.{name}: expected {constraint.describe()}, got {resolved[name]!r}")
    return resolved


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))
