"""Name → object registries. Every pluggable concept (dataset, network, adversarial loss,
conditioning method, regularizer, metric, feature extractor) is looked up by a config string here,
so adding one is a decorator on a new class or function and nothing else changes."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from condgan.errors import CondganError

T = TypeVar("T")


def suggest(name: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def choice_reason(key: str, value: str, choices) -> str | None:
    """Why `value` is not a valid choice for config key `key` (with a suggestion), or None."""
    if value in choices:
        return None
    return (f"config key '{key}': unknown value '{value}'{suggest(value, choices)}; "
            f"choose one of: {', '.join(choices)}")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise CondganError(
                f"unknown {self.kind} '{name}'{suggest(name, self._items)}; "
                f"choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)
