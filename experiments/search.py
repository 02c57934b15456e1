"""Configurations drawn from a search space, the same budget for every method (Lucic et al. 2018):
each method gets `n` configurations; configuration i draws the shared keys (learning rates, betas,
loss, regularizers, ...) identically for every method (one seed), and the method's own keys (λ,
τ, margins, ...) from a stream seeded by the seed and the method. The settings it returns are
ordinary runner Settings, so the runner trains, evaluates and caches them like any study's.

    space = SearchSpace(shared={"train.g_lr": [1e-4, 2e-4, 4e-4], "loss.adversarial": ["ls", "hinge"]},
                        per_method={"d2dce": {"model.d2dce_temperature": [0.25, 0.5, 0.75]}})
    settings = search_settings({"ac_mod": ("mnist5k-quickstart", ("model.conditioning=ac_mod",)),
                                "d2dce": ("mnist5k-quickstart", ("model.conditioning=d2dce",))}, space, n=8, seed=0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from runner import Setting


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

    def draw(self, method: str, n: int, seed: int) -> list[tuple[str, ...]]:
        """n override tuples for `method`; configuration i's shared part is the same for every method."""
        shared, own = random.Random(f"{seed}"), random.Random(f"{seed}/{method}")
        out = []
        for _ in range(n):
            choice = [f"{k}={override_value(shared.choice(list(v)))}" for k, v in sorted(self.shared.items())]
            choice += [f"{k}={override_value(own.choice(list(v)))}"
                       for k, v in sorted(self.per_method.get(method, {}).items())]
            out.append(tuple(choice))
        return out


def search_settings(methods: dict[str, tuple[str, Sequence[str]]], space: SearchSpace, n: int,
                    seed: int) -> list[Setting]:
    """`n` drawn configurations per method ('METHOD cfgNN'); methods: name -> (preset, overrides)."""
    out = []
    for method, (preset, overrides) in methods.items():
        for i, drawn in enumerate(space.draw(method, n, seed)):
            out.append(Setting(f"{method} cfg{i:02d}", preset, tuple(overrides) + drawn))
    return out
