"""Feature-normalized, batch-level conditioning losses of seed 004: `2c` (ContraGAN's conditional
contrastive loss, Kang & Park 2020) and `d2dce` (ReACGAN's Data-to-Data Cross-Entropy, seed 004 §3).

Both share one head (`FeatureNormalizedHead`, seed 004 §3.1): a linear projection p(h) ∈ R^d,
L2-normalized to f = p(h)/|p(h)|, and class proxies v_k = V_k/|V_k| from a class embedding
V = Embedding(K, d). Only cosine similarities enter the losses. Both add λ·loss(real) to the
adversarial D loss and λ·loss(fake) to the adversarial G loss, with any adversarial loss of §1.

Multi-process training: the losses compare each sample with the other samples of the batch, and
more negatives help (seed 004 Table A4). The single seam for that is `FeatureNormalizedMethod.gather`
(identity here): under data parallelism replace it with an all-gather returning every rank's
embeddings and labels (the local rows kept differentiable) and the offset of the local rows in it.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from condgan.losses.conditioning.base import CONDITIONING, TermConditioning
from condgan.nets.layers import maybe_sn
from condgan.registry import choice_reason

D2DCE_VARIANTS = ("full", "no_margin", "proxy_only")


def local_batch(f: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The default `gather`: the keys the anchors are compared with are the local batch itself,
    starting at row offset 0. Returns (keys, key_labels, offset of the anchors among the keys)."""
    return f, y, 0


# ------------------------------------------------------------------ the shared head
class FeatureNormalizedHead(nn.Module):
    """h → [f | f·v_0 … f·v_{K-1}], shape (B, d + K): the normalized embedding f = p(h)/|p(h)|
    followed by its cosine similarity to every normalized class proxy (seed 004 §3.1).

    One tensor rather than two heads so that the trainer's mixed-batch split and the gather seam
    see one per-sample output; `split_embedding` takes it apart. No spectral norm on the proxies:
    they are normalized, so any rescaling of V cancels (likewise for p, which is spectrally
    normalized only to follow `model.d_spectral_norm` like every other D layer).
    """

    def __init__(self, feat_dim: int, num_classes: int, proj_dim: int, spectral_norm: bool):
        super().__init__()
        self.projection = maybe_sn(nn.Linear(feat_dim, proj_dim), spectral_norm)
        self.proxies = nn.Embedding(num_classes, proj_dim)

    def forward(self, h: torch.Tensor, cnd: torch.Tensor | None) -> torch.Tensor:
        f = F.normalize(self.projection(h), dim=1)
        v = F.normalize(self.proxies.weight, dim=1)
        return torch.cat([f, f @ v.T], 1)


def split_embedding(out: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, d + K) head output → f (B, d) and proxy similarities f_iᵀv_k (B, K)."""
    return out[:, :-num_classes], out[:, -num_classes:]


# ------------------------------------------------------------------ the losses
def d2dce_loss(f: torch.Tensor, positive_sim: torch.Tensor, y: torch.Tensor, temperature: float,
               margin_pos: Optional[float], margin_neg: Optional[float],
               keys: Optional[torch.Tensor] = None, key_labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """D2D-CE (seed 004 §3.2, Eq. 6), batch mean over the anchors f_i:

        L_i = -log( e^{P_i} / (e^{P_i} + Σ_{j∈ν(i)} e^{N_ij}) ),
        P_i = min(f_iᵀv_{y_i} - m_p, 0)/τ,   N_ij = max(f_iᵀf_j - m_n, 0)/τ,   ν(i) = {j: y_j ≠ y_i}.

    `positive_sim` is f_iᵀv_{y_i}; `keys`/`key_labels` the embeddings compared with (default: f, y).
    With `margin_pos = margin_neg = None` the clamps are dropped (P_i = f_iᵀv_{y_i}/τ,
    N_ij = f_iᵀf_j/τ: Eq. 5). Computed exactly as one log-sum-exp over the positive and the masked
    negatives (no per-row shift of the negatives alone), so it is finite for τ down to 0.01.
    Same-label keys — the anchor itself and false negatives — are excluded by the label mask.
    """
    if keys is None:
        keys, key_labels = f, y
    pos = positive_sim
    sim = f @ keys.T
    if margin_pos is not None:
        pos = (pos - margin_pos).clamp(max=0)
        sim = (sim - margin_neg).clamp(min=0)
    pos = pos / temperature
    neg = (sim / temperature).masked_fill(y[:, None] == key_labels[None, :], float("-inf"))
    return (torch.logsumexp(torch.cat([pos[:, None], neg], 1), 1) - pos).mean()


def proxy_softmax_loss(proxy_sim: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Feature-normalized softmax CE over all class proxies (seed 004 §3.1, Eq. 3 on normalized
    f and v): E -log softmax(f_iᵀV/τ)_{y_i}. The `proxy_only` ablation of D2D-CE."""
    return F.cross_entropy(proxy_sim / temperature, y)


def contrastive_2c_loss(f: torch.Tensor, positive_sim: torch.Tensor, y: torch.Tensor, temperature: float,
                        keys: Optional[torch.Tensor] = None, key_labels: Optional[torch.Tensor] = None,
                        offset: int = 0) -> torch.Tensor:
    """2C, ContraGAN's conditional contrastive loss (Kang & Park 2020; seed 004 §3.4), batch mean:

        L_i = -log( (e^{f_iᵀv_{y_i}/τ} + Σ_{k≠i, y_k=y_i} e^{f_iᵀf_k/τ})
                    / (e^{f_iᵀv_{y_i}/τ} + Σ_{k≠i} e^{f_iᵀf_k/τ}) ),

    as the difference of two log-sum-exps. Anchor i is key `offset + i` (itself excluded).
    """
    if keys is None:
        keys, key_labels = f, y
    n, m = f.shape[0], keys.shape[0]
    pos = (positive_sim / temperature)[:, None]
    is_self = torch.arange(n, device=f.device)[:, None] + offset == torch.arange(m, device=f.device)[None, :]
    others = (f @ keys.T / temperature).masked_fill(is_self, float("-inf"))
    same_label = others.masked_fill(y[:, None] != key_labels[None, :], float("-inf"))
    numerator = torch.logsumexp(torch.cat([pos, same_label], 1), 1)
    denominator = torch.logsumexp(torch.cat([pos, others], 1), 1)
    return (denominator - numerator).mean()


# ------------------------------------------------------------------ the methods
class FeatureNormalizedMethod(TermConditioning):
    """Adversarial head ψ(h) plus `FeatureNormalizedHead`; subclasses give `class_loss`.

    L_D = adv_D + λ class_loss(real),   L_G = adv_G + λ class_loss(fake).
    """

    gather = staticmethod(local_batch)
    """(f, y) → (keys, key_labels, offset): the multi-process seam (module docstring)."""
    cond_loss_key = "d_cls"
    default_temperature = 0.5
    """τ when `model.cond_temperature` is unset (each method's paper's value)."""
    term_heads = ("embed",)

    def __init__(self, adversarial, num_classes, cond_weight=None, temperature=None, proj_dim=512):
        super().__init__(adversarial, num_classes, cond_weight)
        self.temperature = self.default_temperature if temperature is None else temperature
        self.proj_dim = proj_dim

    @classmethod
    def from_config(cls, cfg, adversarial, num_classes, groups=1):
        m = cfg.model
        return cls(adversarial, num_classes, m.cond_weight, m.cond_temperature, m.cond_proj_dim)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        m = cfg.model
        if m.cond_temperature is not None and m.cond_temperature <= 0:
            return (f"config key 'model.cond_temperature' must be > 0 (the softmax temperature τ of "
                    f"{cls.name}), got {m.cond_temperature}; seed 004 uses 0.25–0.75")
        if m.cond_proj_dim < 1:
            return f"config key 'model.cond_proj_dim' must be ≥ 1, got {m.cond_proj_dim}"
        if cls.needs_negatives(cfg) and cfg.train.batch_size < 2:
            return (f"model.conditioning={cls.name} compares samples within a batch, but "
                    f"train.batch_size={cfg.train.batch_size} leaves no other sample; use train.batch_size ≥ 2")
        return super().check(cfg)

    @classmethod
    def needs_negatives(cls, cfg) -> bool:
        """Whether the loss compares samples with each other (then a batch of 1 cannot work)."""
        return True

    def condition_heads(self, feat_dim, spectral_norm):
        return {"embed": FeatureNormalizedHead(feat_dim, self.num_classes, self.proj_dim, spectral_norm)}

    def class_loss(self, embed: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def split(self, embed: torch.Tensor, y: torch.Tensor):
        """→ f, all proxy similarities (B, K), the positive similarity f_iᵀv_{y_i} (B,)."""
        f, proxy_sim = split_embedding(embed, self.num_classes)
        return f, proxy_sim, proxy_sim.gather(1, y[:, None]).squeeze(1)

    def d_term(self, real, fake, real_labels, fake_labels):
        cls = self.class_loss(real["embed"], real_labels.y)
        return cls, {"d_cls": cls}

    def g_term(self, fake, fake_labels):
        cls = self.class_loss(fake["embed"], fake_labels.y)
        return cls, {"g_cls": cls}


@CONDITIONING.register("2c")
class ContrastiveConditioning(FeatureNormalizedMethod):
    """ContraGAN (Kang & Park 2020; seed 004 §3.4): class_loss = `contrastive_2c_loss`.

    Defaults λ = 1, τ = 1.0, d = 512: the ContraGAN authors' configurations (PyTorch-StudioGAN,
    `configs/*/ContraGAN.yaml`: cond_lambda 1.0, temperature 1.0, d_embed_dim 512 on CIFAR-10)."""

    name = "2c"
    default_temperature = 1.0

    def class_loss(self, embed, y):
        f, _, positive = self.split(embed, y)
        keys, key_labels, offset = self.gather(f, y)
        return contrastive_2c_loss(f, positive, y, self.temperature, keys, key_labels, offset)


@CONDITIONING.register("d2dce")
class DataToDataCrossEntropy(FeatureNormalizedMethod):
    """ReACGAN (seed 004 §3): class_loss = `d2dce_loss` (variant `full`, Eq. 6), or the ablations
    `no_margin` (Eq. 5) and `proxy_only` (`proxy_softmax_loss`, Eq. 3 with normalization).

    Options: `model.cond_weight` λ (unset: 0.5), `model.cond_temperature` τ (unset: 0.5),
    `model.cond_margin_pos` m_p (0.98), `model.cond_margin_neg` m_n (unset: 1 - m_p),
    `model.cond_proj_dim` d (512), `model.d2dce_variant`: seed 004's CIFAR-10 setting (App. C.2,
    which sets λ equal to τ except on ImageNet).
    """

    name = "d2dce"
    default_cond_weight = 0.5
    default_temperature = 0.5

    def __init__(self, adversarial, num_classes, cond_weight=None, temperature=None, proj_dim=512,
                 margin_pos=0.98, margin_neg=None, variant="full"):
        super().__init__(adversarial, num_classes, cond_weight, temperature, proj_dim)
        if variant not in D2DCE_VARIANTS:
            raise ValueError(f"unknown D2D-CE variant {variant!r}")
        self.variant = variant
        self.margin_pos = margin_pos if variant == "full" else None
        self.margin_neg = (1 - margin_pos if margin_neg is None else margin_neg) if variant == "full" else None

    @classmethod
    def from_config(cls, cfg, adversarial, num_classes, groups=1):
        m = cfg.model
        return cls(adversarial, num_classes, m.cond_weight, m.cond_temperature, m.cond_proj_dim,
                   m.cond_margin_pos, m.cond_margin_neg, m.d2dce_variant)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        m = cfg.model
        reason = choice_reason("model.d2dce_variant", m.d2dce_variant, D2DCE_VARIANTS)
        if reason:
            return reason
        for key in ("cond_margin_pos", "cond_margin_neg"):
            value = getattr(m, key)
            if value is not None and not -1 <= value <= 1:
                return (f"config key 'model.{key}' must be in [-1, 1] (it is compared with a cosine "
                        f"similarity), got {value}")
        return super().check(cfg)

    @classmethod
    def needs_negatives(cls, cfg) -> bool:
        return cfg.model.d2dce_variant != "proxy_only"   # no data-to-data term

    def class_loss(self, embed, y):
        f, proxy_sim, positive = self.split(embed, y)
        if self.variant == "proxy_only":
            return proxy_softmax_loss(proxy_sim, y, self.temperature)
        keys, key_labels, _ = self.gather(f, y)
        return d2dce_loss(f, positive, y, self.temperature, self.margin_pos, self.margin_neg, keys, key_labels)
