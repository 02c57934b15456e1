"""Compositions of conditioning terms: `model.conditioning=a+b` (seed 004 App. E: ReACGAN + TAC
is `d2dce+tac`).

A composition of `TermConditioning` methods is one discriminator with a single adversarial head
ψ(h) and the conditioning heads of every part, trained with the sum of the parts' terms:

    L_D = adv_D(ψ(x), ψ(x')) + λ Σ_i T_D^i,    L_G = adv_G(ψ(x')) + λ Σ_i T_G^i,

λ = `model.cond_weight` for every term (unset: 1; the seed gives no value for the composition); each part reads its own options (τ, margins, ...). A
method alone equals its one-part composition. Refused, each with a one-line reason:

- a part whose conditioning is inside its adversarial logit (pd, concat, ca, ca_inner, label,
  am, mh) or that has no conditioning term (none): there is no separate term to add beside
  another method's ψ, and two adversarial logits would be two different GANs;
- two parts that train the same head (ac with ac_mod or ac_plus: one classifier C with two
  losses; 2c with d2dce: one normalized embedding with two losses), or a part named twice;
- only add-on terms (the twin classifier of `tac` needs a term that classifies reals).

The registry resolves the names (`ConditioningRegistry.get`), so the trainer, the config checks
and the labeling modes see a composition as one method.
"""

from __future__ import annotations

import inspect

from condgan.errors import CondganError
from condgan.losses.conditioning.base import (COMPOSE, CONDITIONING, ConditioningMethod, LinearHead,
                                              TermConditioning)
from condgan.registry import Registry

_BUILT: dict[tuple, type] = {}


def composable_names() -> list[str]:
    """The registered methods a composition may contain."""
    return [n for n in CONDITIONING.names() if Registry.get(CONDITIONING, n).composable]


def _parameters(cls) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "adversarial", "num_classes", "cond_weight"}


class ComposedConditioning(ConditioningMethod):
    """The composition of `parts` (module docstring). `terms`: the part instances, in order."""

    parts: tuple[type[TermConditioning], ...] = ()
    cond_loss_key = "d_cond"
    """The sum of the parts' D terms, Σ_i T_D^i (the gradient-norm diagnostic reads it)."""

    def __init__(self, adversarial, num_classes, cond_weight=None, terms=None, **options):
        super().__init__(adversarial, num_classes, cond_weight)
        if terms is None:
            unknown = set(options) - set().union(*(_parameters(p) for p in self.parts))
            if unknown:
                raise TypeError(f"conditioning method '{self.name}': no part takes {sorted(unknown)}")
            terms = [p(adversarial, num_classes, cond_weight, **{k: v for k, v in options.items() if k in _parameters(p)})
                     for p in self.parts]
        self.terms = list(terms)

    @classmethod
    def from_config(cls, cfg, adversarial, num_classes, groups=1):
        return cls(adversarial, num_classes, cfg.model.cond_weight,
                   terms=[p.from_config(cfg, adversarial, num_classes, groups) for p in cls.parts])

    @classmethod
    def check(cls, cfg):
        for part in cls.parts:
            reason = part.check(cfg)
            if reason:
                return reason
        return super().check(cfg)

    def heads(self, feat_dim, spectral_norm):
        heads = {"adv": LinearHead(feat_dim, 1, spectral_norm)}
        for term in self.terms:
            heads.update(term.condition_heads(feat_dim, spectral_norm))
        return heads

    def _sum(self, results, side: str):
        """Σ_i T^i and the parts' logs (a key two parts share gets the later part's name appended)."""
        total, logs = 0.0, {}
        for term, (value, term_logs) in zip(self.terms, results):
            total = total + value
            for key, v in term_logs.items():
                logs[f"{key}_{term.name}" if key in logs else key] = v
        logs[f"{side}_cond"] = total
        return total, logs

    def d_loss(self, real, fake, real_labels, fake_labels):
        adv = self.adv.d_loss(real["adv"], fake["adv"])
        term, logs = self._sum([t.d_term(real, fake, real_labels, fake_labels) for t in self.terms], "d")
        return adv + self.cond_weight * term, {"d_adv": adv, **logs}

    def g_loss(self, fake, fake_labels):
        adv = self.adv.g_loss(fake["adv"])
        term, logs = self._sum([t.g_term(fake, fake_labels) for t in self.terms], "g")
        return adv + self.cond_weight * term, {"g_adv": adv, **logs}

    def class_logits(self, out):
        """The class logits of the first part that classifies reals (dynamic labeling reads them)."""
        for term in self.terms:
            if term.has_class_logits and term.stands_on is None:
                return term.class_logits(out)
        return super().class_logits(out)

    @property
    def gather(self):
        """The multi-process seam of the batch-level parts (2c, d2dce); absent without one."""
        for term in self.terms:
            if hasattr(term, "gather"):
                return term.gather
        raise AttributeError("gather")

    @gather.setter
    def gather(self, fn):
        for term in self.terms:
            if hasattr(term, "gather"):
                term.gather = fn


def _refusal(name: str, parts: list[type]) -> str | None:
    for p in parts:
        if not p.composable:
            return (f"conditioning method '{name}': '{p.name}' does not compose — its conditioning is not a "
                    f"separate term beside a plain adversarial head ψ(h); composable methods: "
                    f"{', '.join(composable_names())}")
    names = [p.name for p in parts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return f"conditioning method '{name}' names {', '.join(twice)} twice"
    owner: dict[str, str] = {}
    for p in parts:
        for head in p.term_heads:
            if head in owner:
                return (f"conditioning method '{name}': {owner[head]} and {p.name} both train D's head '{head}' "
                        "with different losses; compose methods whose terms have heads of their own")
            owner[head] = p.name
    if all(p.stands_on for p in parts):
        return (f"conditioning method '{name}' has only add-on terms ({', '.join(names)}); add a term that "
                f"classifies reals, e.g. {parts[0].stands_on}{COMPOSE}{parts[0].name}")
    return None


def compose(name: str, parts: list[type]) -> type[ComposedConditioning]:
    """The method class of the composition `name` of `parts` (cached); CondganError when refused."""
    key = (name, tuple(parts))
    if key not in _BUILT:
        reason = _refusal(name, parts)
        if reason:
            raise CondganError(reason)
        _BUILT[key] = type(f"Composed[{name}]", (ComposedConditioning,), {
            "name": name, "parts": tuple(parts), "multi_label": all(p.multi_label for p in parts),
            "has_class_logits": any(p.has_class_logits and p.stands_on is None for p in parts),
            "__doc__": f"`{name}`: " + " + ".join(p.name for p in parts) + " (see ComposedConditioning)."})
    return _BUILT[key]


CONDITIONING.composer = compose
