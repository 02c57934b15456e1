"""From a validated config and the data's shape to the networks and the conditioning method."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from condgan.device import resolve_device  # noqa: F401  (re-exported)
from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, ConditioningMethod
from condgan.nets import NETWORKS, Discriminator
from condgan.nets.bottleneck import VariationalDiscriminator
from condgan.nets.joint import head_features, make_discriminator
from condgan.nets.layers import apply_equalized_lr
from condgan.nets.minibatch_discrimination import MinibatchDiscriminationTrunk
from condgan.nets.normalization import VirtualBatchGenerator
from condgan.training.labeling import LABELING
from condgan.training.latents import sample_latents
from condgan.training.precision import SpeedSettings, apply_init, prepare_networks, resolve_speed


@dataclass
class DataInfo:
    """What the networks need to know about the data; stored in checkpoints so sampling and
    evaluation can rebuild the generator without loading the data set."""

    sample_shape: tuple
    num_classes: int
    multi_label: bool
    class_names: list

    @staticmethod
    def of(data) -> "DataInfo":
        return DataInfo(tuple(data.sample_shape), data.num_classes, data.multi_label, list(data.class_names))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sample_shape"] = list(self.sample_shape)
        return d

    @staticmethod
    def from_dict(d: dict) -> "DataInfo":
        return DataInfo(tuple(d["sample_shape"]), d["num_classes"], d["multi_label"], list(d["class_names"]))


@dataclass
class GAN:
    generator: torch.nn.Module
    discriminator: Discriminator
    method: ConditioningMethod
    info: DataInfo


def build_gan(cfg, info: DataInfo, device: torch.device, speed: SpeedSettings | None = None) -> GAN:
    """Networks initialized from `cfg.seed` (the caller seeds torch) and the conditioning method,
    in the memory format (and compiled) as `speed` says (default: `cfg` resolved on `device`)."""
    mode = LABELING.get(cfg.model.labeling)
    if info.num_classes == 0 and mode.labels_needed(cfg) and cfg.model.conditioning != "none":
        raise CondganError(f"data set '{cfg.data.name}' is unlabeled; model.conditioning="
                           f"{cfg.model.conditioning} needs labels (use none, or a self-labeling mode)")
    method_cls = CONDITIONING.get(cfg.model.conditioning)
    if info.multi_label and not method_cls.multi_label:
        raise CondganError(f"model.conditioning={cfg.model.conditioning} needs single class labels, but "
                           f"data set '{cfg.data.name}' has multi-hot attributes; use ca or pd")
    adversarial = ADVERSARIAL_LOSSES.get(cfg.loss.adversarial).with_label_smoothing(cfg.loss.label_smoothing)
    method = method_cls.from_config(cfg, adversarial, mode.discriminator_conditions(cfg, info),
                                    mode.discriminator_groups(cfg))
    num_conditions = mode.generator_conditions(cfg, info)
    m = cfg.model
    generator, trunk = NETWORKS.get(m.net)(cfg, info.sample_shape, num_conditions)
    if m.g_norm == "virtual_batch":
        generator = _with_reference_batch(cfg, info, generator, num_conditions)
    if m.d_minibatch_disc:
        trunk = MinibatchDiscriminationTrunk(trunk, m.d_minibatch_disc, m.d_minibatch_disc_dim)
    # the heads read the bottleneck's z when there is one, J's features for model.encoder=bigan
    feat_dim = m.vdb_dim or head_features(cfg, trunk.out_dim)
    heads = method.heads(feat_dim, m.d_spectral_norm)
    heads.update(mode.discriminator_heads(cfg, feat_dim))
    discriminator = (VariationalDiscriminator(trunk, heads, m.vdb_dim, m.d_spectral_norm) if m.vdb_dim
                     else make_discriminator(cfg, trunk, heads, mode.discriminator_conditions(cfg, info)))
    apply_init(generator, cfg.model.init)
    apply_init(discriminator, cfg.model.init)
    if cfg.model.equalized_lr:
        apply_equalized_lr(generator)
        apply_equalized_lr(discriminator)
    generator, discriminator = generator.to(device), discriminator.to(device)
    prepare_networks(speed or resolve_speed(cfg, device), generator, discriminator)
    return GAN(generator, discriminator, method, info)


def _with_reference_batch(cfg, info: DataInfo, generator: torch.nn.Module, num_conditions: int):
    """G behind `VirtualBatchGenerator`: `model.vbn_reference` latents and conditions, drawn as
    training draws them from a generator of their own seeded by the run's seed (so G's
    initialization is the same with and without virtual batch norm)."""
    rng = torch.Generator().manual_seed(cfg.seed + 1_000_037)
    n = cfg.model.vbn_reference
    z = sample_latents(n, cfg.model.z_dim, rng)
    cnd = (LABELING.get(cfg.model.labeling).random_conditions(cfg, info, n, rng, "cpu")
           if num_conditions else None)
    return VirtualBatchGenerator(generator, z, cnd)
