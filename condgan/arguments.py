"""Checks of the plain values users pass through the CLI and the Python API (seeds, counts,
class lists, name lists), each raising one CondganError that names the argument and the value.

Python is permissive where these values are concerned: `range(2.5)` fails deep inside torch,
`[int(c) for c in "12"]` quietly reads a string as two classes, `int(1.5)` rounds, and a seed of
2**64 overflows only when the random generator is seeded. So the public entry points check here,
before any work starts.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from condgan.errors import CondganError

MAX_SEED = 2**63 - 1
"""Seeds are 0 … 2^63 − 1: torch seeds a generator with an unsigned 64-bit number and condgan
derives further streams as seed + offset, which must not overflow it."""


def is_integer(value: Any) -> bool:
    """An int (or numpy integer), not a bool, not a float that happens to be whole."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seed(value: Any, what: str = "seed") -> int:
    if not is_integer(value) or not 0 <= value <= MAX_SEED:
        raise CondganError(f"{what} must be an integer from 0 to 2^63 - 1 ({MAX_SEED}), got {value!r}")
    return int(value)


def check_count(value: Any, what: str, minimum: int = 1) -> int:
    """An integer ≥ minimum (e.g. a number of samples)."""
    if not is_integer(value) or value < minimum:
        raise CondganError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def check_indices(values: Any, what: str) -> list[int]:
    """A sequence of integer indices (class numbers): not a string (whose characters would
    otherwise read as digits), not floats (which would otherwise be rounded down)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) and not hasattr(values, "tolist"):
        raise CondganError(f"{what} must be a list of integer indices, e.g. [1, 2], got {values!r}")
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    bad = [v for v in values if not is_integer(v)]
    if bad:
        raise CondganError(f"{what} must be integer indices, got {bad[0]!r} in {values!r}")
    return [int(v) for v in values]


def check_strings(values: Any, what: str, example: str) -> list[str]:
    """A list of strings (overrides, names): a single string is refused rather than iterated
    character by character."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise CondganError(f"{what} must be a list of strings, e.g. {example}, got {values!r}")
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise CondganError(f"{what} must be strings, e.g. {example}, got {bad[0]!r} in {list(values)!r}")
    return list(values)
