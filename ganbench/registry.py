"""Small named registries: one per concept (dataset, architecture, loss, trick, metric ...).

A new component is one module plus ``@REGISTRY.register("name")``; the config refers to it by that name and the
DAG and report pick it up with no other edit. Looking up an unknown name raises a ConfigError that lists the names
that exist, so a typo in a config is reported with the alternatives.

A component chosen in the settings is a dict ``{name: ..., option: value ...}``; ``Registry.build`` is the one way
to instantiate it: ``cls(*args, options, key)``, where ``options`` is the dict without ``name`` and ``key`` the config
key of the component (``loss``, ``variants[2].architecture``), so every error names ``key.name`` or ``key.option``.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from ganbench.errors import ConfigError

T = TypeVar("T")


def options_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A component's options: its settings dict without ``name``."""
    return {k: v for k, v in settings.items() if k != "name"}


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        if not isinstance(name, str) or not name or name.strip() != name:
            raise ValueError(f"{self.kind} name must be a non-empty string without surrounding spaces: {name!r}")

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str, key: str | None = None) -> T:
        """Return the entry called ``name``; ``key`` is the config key that named it, for the error message."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            where = f"{key}: " if key else ""
            known = ", ".join(sorted(self._items)) or "(none registered)"
            raise ConfigError(f"{where}unknown {self.kind} {name!r}; expected one of: {known}") from None

    def build(self, settings: Mapping[str, Any], key: str, *args: Any) -> Any:
        """The component that ``settings`` (``{name: ..., option: value ...}``) names, as ``cls(*args, options, key)``;
        an unknown name is a ConfigError at ``key.name``."""
        return self.get(settings["name"], key=f"{key}.name")(*args, options_of(settings), key)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
