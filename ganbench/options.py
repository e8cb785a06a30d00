"""Option dictionaries with declared defaults: every component lists what it accepts, anything else is an error."""

from __future__ import annotations

from typing import Any, Mapping

from ganbench.errors import ConfigError


def resolve_options(defaults: Mapping[str, Any], given: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    """Merge ``given`` over ``defaults``; an option not in ``defaults`` is a ConfigError naming ``key.option``."""
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
    return {**defaults, **given}


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))
