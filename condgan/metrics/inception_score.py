"""Classifier-output scores of generated samples: Inception Score and AM Score (seed 003 §6).

Both read only C(x), the class probabilities the extractor / domain classifier gives each fake.

Inception Score (Salimans et al. 2016; seed 003 Eq. 21):

    IS = exp( E_x KL(C(x) ‖ C̄_G) ),   C̄_G = E_x C(x)

computed, like the reference code, on `splits` disjoint parts of the (seed-shuffled) fakes and
reported as the mean and (population) std over parts. With fewer fakes N than `splits`, N parts
of one fake each are used (min(splits, N) parts: an empty part has no IS), so a tiny sample gives
the uninformative but finite IS = 1 instead of NaN; N = 0 is an error. Shuffling matters: fakes are often
generated class by class, and contiguous splits would then each hold one or two classes.
By seed 003 Eq. 22, E_x KL(C(x) ‖ C̄_G) = H(C̄_G) − E_x H(C(x)), so one-hot predictions spread
uniformly over M classes give IS = M.

AM Score (seed 003 Eq. 23; lower is better, 0 is ideal):

    AM = KL(C̄_train ‖ C̄_G) + E_x H(C(x))

with C̄_train the class prior of the train split. It is +inf when C̄_G gives zero mass to a class
the train split has (exact one-hot predictions with a dropped class); real classifiers' softmax
outputs are never exactly zero, so this only happens with synthetic inputs.
"""

from __future__ import annotations

import math

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, as_distribution, canonical_order, generator, register_metric


def _probs64(p: torch.Tensor) -> torch.Tensor:
    return p.detach().to("cpu", torch.float64)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) = −Σ_k p_k log p_k along the last axis (0 log 0 = 0)."""
    return -torch.special.xlogy(p, p).sum(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = Σ_k p_k (log p_k − log q_k) along the last axis (0 log 0 = 0; +inf where
    q_k = 0 < p_k). q broadcasts against p."""
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(-1)


def inception_score_of(probs: torch.Tensor) -> float:
    """exp(E_x KL(C(x) ‖ C̄)) of one set of (N, K) probabilities."""
    p = _probs64(probs)
    return math.exp(float(kl_divergence(p, p.mean(0, keepdim=True)).mean()))


@register_metric("is", needs={"fake_probs"}, higher_is_better={"is": True})
def inception_score(inputs: MetricInputs, splits: int = 10, shuffle: bool = True) -> dict[str, float]:
    """IS mean and std over S = min(splits, N) parts; part i is rows [i·N/S, (i+1)·N/S) of the
    fakes after a seeded shuffle of their canonical order (the reference code's split arithmetic);
    shuffle=False keeps the order given."""
    p = _probs64(inputs.fake_probs)
    n = p.shape[0]
    if splits < 1 or n == 0:
        raise CondganError(f"is: needs splits ≥ 1 and at least one fake, got splits={splits} and {n} fakes")
    splits = min(splits, n)
    if shuffle:  # over the canonical order: the splits depend on the set, not its storage order
        p = p[canonical_order(p)][torch.randperm(n, generator=generator(inputs.seed))]
    scores = torch.tensor(
        [inception_score_of(p[i * n // splits:(i + 1) * n // splits]) for i in range(splits)], dtype=torch.float64
    )
    return {"is": float(scores.mean()), "is_std": float(scores.std(unbiased=False))}


@register_metric(
    "am_score",
    needs={"fake_probs", "train_class_marginal"},
    higher_is_better={"am_score": False, "am_score/kl": False, "am_score/entropy": False},
    data_classes=True,
)
def am_score(inputs: MetricInputs) -> dict[str, float]:
    """AM Score and its two terms (seed 003 Fig. 6): 'am_score/kl' = KL(C̄_train ‖ C̄_G),
    'am_score/entropy' = E_x H(C(x))."""
    p = _probs64(inputs.fake_probs)
    prior = as_distribution(inputs.train_class_marginal, "train_class_marginal")
    if prior.shape[0] != p.shape[1]:
        raise CondganError(f"train_class_marginal has {prior.shape[0]} classes but fake_probs {p.shape[1]}")
    kl = float(kl_divergence(prior, p.mean(0)))
    ent = float(entropy(p).mean())
    return {"am_score": kl + ent, "am_score/kl": kl, "am_score/entropy": ent}
