"""Configurations drawn from a search space, the same budget for every method (Lucic et al. 2018):
each method gets `n` configurations; configuration i draws the shared keys (learning rates, betas,
loss, regularizers, ...) identically for every method (one seed), and the method's own keys (λ,
τ, margins, ...) from a stream seeded by the seed and the method. The settings it returns are
ordinary runner Settings, so the runner trains, evaluates and caches them like any study's.

    space = SearchSpace(shared={"train.g_lr": [1e-4, 2e-4, 4e-4], "loss.adversarial": ["ls", "hinge"],
                                "betas": [{"train.g_betas": [0.5, 0.999], "train.d_betas": [0.5, 0.999]},
                                          {"train.g_betas": [0.0, 0.9], "train.d_betas": [0.0, 0.9]}]},
                        per_method={"d2dce": {"model.cond_temperature": [0.25, 0.5, 0.75]}})
    settings = search_settings({"ac_mod": ("mnist5k-quickstart", ("model.conditioning=ac_mod",)),
                                "d2dce": ("mnist5k-quickstart", ("model.conditioning=d2dce",))}, space, n=8, seed=0)

A choice that is a dict sets several keys at once (the name of its entry, "betas" above, is only
a name): joint settings such as G's and D's betas, or one regularizer out of R1 / GP / none
(`{}` sets nothing). With `anchor=True` configuration 0 is the method's own overrides alone (the
preset's settings: a known-good start no method falls below) and configurations 1..n-1 are drawn.
A method's `fixed` keys (a value its math requires, e.g. λ = 1) win over drawn values of the same
key; the draw itself is unchanged, so the other keys of configuration i stay the same for every
method.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from runner import Setting


def override_key(assignment: str) -> str:
    return assignment.split("=", 1)[0].strip()


def override_value(v) -> str:
    """A choice as `--set` writes it: lists as [a,b], booleans as true/false."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return str(v)


@dataclass(frozen=True)
class SearchSpace:
    """key -> the choices (drawn uniformly). `shared`: every method; `per_method`: one method's own."""

    shared: dict[str, Sequence] = field(default_factory=dict)
    per_method: dict[str, dict[str, Sequence]] = field(default_factory=dict)
    balanced: bool = False
    """False: every value drawn independently and uniformly. True: each key walks through shuffled
    permutations of its list (its own seeded stream), so among configurations 1..n every value
    appears ⌊n/k⌋ or ⌈n/k⌉ times (k values): a small budget still tries every value."""

    def draw(self, method: str, n: int, seed: int, fixed: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """n override tuples for `method`; configuration i's shared part is the same for every
        method, and the first n of a larger draw are the n of a smaller one. Drawn keys named in
        `fixed` (config keys) are left out."""
        if self.balanced:
            columns = [_balanced(v, n, f"{seed}/{k}") for k, v in sorted(self.shared.items())]
            columns += [_balanced(v, n, f"{seed}/{method}/{k}")
                        for k, v in sorted(self.per_method.get(method, {}).items())]
            keys = sorted(self.shared) + sorted(self.per_method.get(method, {}))
            rows = [[(k, col[i]) for k, col in zip(keys, columns)] for i in range(n)]
        else:
            shared, own = random.Random(f"{seed}"), random.Random(f"{seed}/{method}")
            rows = [[(k, shared.choice(list(v))) for k, v in sorted(self.shared.items())]
                    + [(k, own.choice(list(v))) for k, v in sorted(self.per_method.get(method, {}).items())]
                    for _ in range(n)]
        out = []
        for row in rows:
            choice = [a for k, value in row for a in _assignments(k, value)]
            out.append(tuple(a for a in choice if override_key(a) not in set(fixed)))
        return out


def _balanced(values: Sequence, n: int, stream: str) -> list:
    """n values: successive shuffles of `values` from a generator seeded by `stream`."""
    rng, out = random.Random(stream), []
    while len(out) < n:
        block = list(values)
        rng.shuffle(block)
        out += block
    return out[:n]


def _assignments(key: str, value) -> list[str]:
    """`key=value`, or one assignment per entry of a dict choice (a joint setting)."""
    if isinstance(value, dict):
        return [f"{k}={override_value(v)}" for k, v in value.items()]
    return [f"{key}={override_value(value)}"]


def search_settings(methods: dict[str, tuple[str, Sequence[str]]], space: SearchSpace, n: int,
                    seed: int, anchor: bool = False, fixed: dict[str, Sequence[str]] | None = None,
                    datasets: tuple[str, ...] | None = None) -> list[Setting]:
    """`n` configurations per method ('METHOD cfgNN'); methods: name -> (preset, overrides).
    anchor: configuration 0 is the method's overrides alone, 1..n-1 drawn; a drawn key replaces
    the method's override of the same key, except the keys `fixed[method]` names (the method's
    value stays, the drawn one is dropped); datasets: every setting's."""
    out = []
    for method, (preset, overrides) in methods.items():
        drawn = space.draw(method, n - 1 if anchor else n, seed, (fixed or {}).get(method, ()))
        for i, extra in enumerate(([()] if anchor else []) + drawn):
            redrawn = {override_key(a) for a in extra}   # a drawn key replaces the method's own value
            base = tuple(a for a in overrides if override_key(a) not in redrawn)
            out.append(Setting(f"{method} cfg{i:02d}", preset, base + extra, datasets=datasets))
    return out
