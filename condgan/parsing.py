"""Typed parsing of nested dataclasses from plain dicts (YAML, `--set` values).

`from_dict(cls, data)` builds the dataclass `cls` from a nested dict: every key must be a field
(an unknown key is an error with a suggestion), nested dataclass fields take nested dicts, and
each value is coerced to its annotation (`coerce`): bool, int, finite float, str, Optional and
lists of these; anything else raises `CondganError` naming the dotted key. Generic: the config
declarations (`condgan.config`) are its only user.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any

from condgan.errors import CondganError
from condgan.registry import suggest


def type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def coerce(value: Any, tp, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], key)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        # Every float key (rates, weights, betas, fractions) must be finite: NaN passes every
        # range check (all comparisons are false) and would only surface as NaN losses.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            raise CondganError(f"config key '{key}': expected a finite number, got {value!r}")
        if isinstance(value, str):
            # YAML 1.1 (PyYAML) reads exponent notation without a dot ("1e-4") as a string.
            try:
                number = float(value)
            except ValueError:
                number = None
            if number is not None and math.isfinite(number):
                return number
            if number is not None:
                raise CondganError(f"config key '{key}': expected a finite number, got {value!r}")
    elif tp is str:
        if isinstance(value, bool):  # YAML reads true/false (data.stream) as booleans
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
    raise CondganError(f"config key '{key}': expected {type_name(tp)}, got {value!r}")


@functools.cache
def type_hints(cls) -> dict:
    """`typing.get_type_hints(cls)`, once per class: it re-evaluates every annotation string on
    each call, which made every config load (one per `--set`, one per experiment grid row) slow."""
    return typing.get_type_hints(cls)


def from_dict(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise CondganError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = prefix + str(key)
        if key not in names:
            raise CondganError(f"unknown config key '{full}'{suggest(key, names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {}, full + ".")
        else:
            kwargs[key] = coerce(value, tp, full)
    return cls(**kwargs)


def flat_keys(cls, prefix: str = "") -> list[str]:
    """Every leaf field of the dataclass `cls`, dotted (`train.steps`); computed once per class."""
    return list(_flat_keys(cls, prefix))


@functools.cache
def _flat_keys(cls, prefix: str) -> tuple[str, ...]:
    out: list[str] = []
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += _flat_keys(hints[f.name], prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return tuple(out)
