"""CGPGAN's classifier losses and learned category prior (Cho, codebook paper (seed 000) §2).

The categorical latent has `d_l` groups of `d_c` categories; a condition `c_f` is the
concatenation of `d_l` one-hot vectors, shape (B, d_l·d_c). The classifier Q outputs a softmax per
group, `Q(x)` of the same shape (each group sums to 1).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from condgan.losses.regularizers import scalar_input_gradient_sq_norm


def group_log_softmax(logits: torch.Tensor, d_l: int) -> torch.Tensor:
    """(B, d_l·d_c) logits → per-group log-softmax, same shape."""
    b = logits.shape[0]
    return F.log_softmax(logits.reshape(b, d_l, -1), dim=2).reshape(b, -1)


def argmax_onehot(probs: torch.Tensor, d_l: int) -> torch.Tensor:
    """(B, d_l·d_c) → the multi-hot of per-group one-hots of the argmax (no gradient)."""
    b = probs.shape[0]
    grouped = probs.reshape(b, d_l, -1)  # argmax / one_hot carry no gradient
    return F.one_hot(grouped.argmax(2), grouped.shape[2]).float().reshape(b, -1)


def classification_loss(q_logits: torch.Tensor, c_f: torch.Tensor, d_l: int) -> torch.Tensor:
    """L_cls = E[-c_f · log Q(G(z, c_f))], summed over groups (seed 000 §2, Eq. 3)."""
    return -(c_f * group_log_softmax(q_logits, d_l)).sum(1).mean()


def group_scores(values: torch.Tensor, c: torch.Tensor, d_l: int) -> torch.Tensor:
    """(B, d_l·d_c) values and one-hot groups c → (B, d_l): per group g the inner product
    values_g · c_g, i.e. the value of the category chosen in that group."""
    return (values * c).reshape(values.shape[0], d_l, -1).sum(2)


def cgp_loss(classifier: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor, c_f: torch.Tensor,
             d_l: int) -> torch.Tensor:
    """L_cgp = E ||∇_{x'} (1/d_l) Σ_g (1 − Q_g(x')·c_{f,g})²||², the classifier gradient penalty on
    fakes x' (seed 000 §2, Eq. 4), each group g scored against its own softmax Q_g over its d_c
    categories and the scores averaged over the groups (as the author's multi-group code does; for
    d_l = 1 it is Eq. 4 as printed). One inner product over all groups would compare a sum of d_l
    probabilities with 1, which is degenerate. `classifier` maps images to (B, d_l·d_c) logits."""
    def score(x):
        return (1 - group_scores(group_log_softmax(classifier(x), d_l).exp(), c_f, d_l)).square().mean(1)

    return scalar_input_gradient_sq_norm(score, fake).mean()


def normalize_probabilities(probs: torch.Tensor, d_l: int) -> torch.Tensor:
    """Seed 000 §2, Eqs. 9–10: the batch of predictions c (B, d_l·d_c) → c − batchmean(c) + 1/d_c,
    per group; its batch mean is exactly uniform."""
    c = probs.reshape(probs.shape[0], d_l, -1)
    return (c - c.mean(0, keepdim=True) + 1.0 / c.shape[2]).reshape(probs.shape)


def update_prior(prior: torch.Tensor, probs: torch.Tensor, decay: float, d_l: int,
                 normalize: bool) -> torch.Tensor:
    """The dynamic prior of seed 000 §2: P(C) ← decay·P(C) + (1 − decay)·E_x[Q(x)], per group.

    `prior` is (d_l, d_c), `probs` the batch of real predictions (B, d_l·d_c). With `normalize`
    (the warm-up) the predictions are first normalized (`normalize_probabilities`), so the prior
    stays uniform; afterwards the raw predictions are used."""
    c = probs.detach()
    if normalize:
        c = normalize_probabilities(c, d_l)
    return decay * prior + (1 - decay) * c.reshape(c.shape[0], d_l, -1).mean(0)


def sample_prior(prior: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """n conditions c_f (n, d_l·d_c): per group a one-hot drawn from that group's row of P(C)."""
    d_l, d_c = prior.shape
    idx = torch.multinomial(prior.clamp_min(0), n, replacement=True, generator=generator)  # (d_l, n)
    return F.one_hot(idx.t(), d_c).float().reshape(n, d_l * d_c)
