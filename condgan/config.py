"""Typed run configuration: nested dataclasses, YAML presets (read by `condgan.config_files`),
`--set key=value` overrides.

This module declares the keys and parses them: unknown keys (with a suggestion) and wrong value
types raise `CondganError` with the key path in the message (`parse_config`). It is the bottom
layer and imports no registry; the checks that need the registries (unknown method / net /
metric names, value ranges, combinations the math does not allow) live above them in
`condgan.validation`, whose `load_config` = `parse_config` + `validate_config` is what the CLI
and `condgan.api` call, and which the trainer runs again before it touches the run directory.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional

import yaml

from condgan.config_files import list_presets, read_config_source  # noqa: F401  (re-exported)
from condgan.config_regularization import AdaConfig, ApaConfig, RegConfig  # noqa: F401  (sections of Config)
from condgan.errors import CondganError
from condgan.parsing import flat_keys, from_dict
from condgan.registry import suggest


@dataclass
class DataConfig:
    name: str = "mnist5k"
    """Registered data source: mnist5k, mnist5k-pairs, fashion-mnist, digits, folder, cifar10, ring2d, grid2d,
    mog1d."""
    root: Optional[str] = None
    """Directory for file-based sources (fashion-mnist, folder, cifar10)."""
    download: bool = False
    """Download missing files of sources that have a public URL (checksums verified)."""
    image_size: int = 28
    channels: Optional[int] = None
    """Force 1 (gray) or 3 (RGB) channels; None keeps the source's own."""
    classes: Optional[list[int]] = None
    """Keep only these source classes, relabeled 0..k-1 in the given order."""
    class_fractions: Optional[list[float]] = None
    """Fraction of each (kept) class to keep, e.g. seed 001's 55 %-zeros set."""
    train_images: Optional[int] = None
    """Keep about this many training images (the same fraction of every class, deterministic by
    split_seed; the test split is untouched): limited-data runs. None keeps all."""
    attributes: Optional[list[str]] = None
    """Derived binary attributes (multi-hot labels), e.g. [even, ge5] for digit data sets."""
    test_fraction: float = 0.1
    """Held-out fraction for sources without an official test split."""
    num_samples: int = 10000
    """Size of synthetic data sets."""
    unlabeled: bool = False
    """Hide the labels from training (self-labeling modes, unconditional GANs); they are kept
    for evaluation (clustering ACC / NMI / ARI). A flat `folder` is unlabeled by nature."""
    split_seed: int = 0
    """Seed of subsetting and train/test splitting (independent of the training seed, so that
    every training seed is evaluated on the same test split)."""
    stream: str = "auto"
    """folder data: auto, true or false. true streams images from disk through DataLoader workers
    (decoded and resized in the workers) instead of decoding the whole folder into memory; auto
    streams when the decoded training images would exceed data.stream_threshold_mb."""
    stream_threshold_mb: float = 2048.0
    """data.stream=auto: stream when N·C·H·W·4 bytes (float32 decoded images) exceed this many MiB."""
    stream_workers: int = 2
    """data.stream: DataLoader worker processes per training process (0 = decode in the training
    process)."""


@dataclass
class ModelConfig:
    net: str = "dcgan"
    """Network family: dcgan, resnet, biggan_deep, stylegan2 or progan (images; progan grows
    with train.progressive_*), mlp (vector data)."""
    conditioning: str = "ca"
    """Discriminator-side conditioning method (docs/methods.md §2); terms compose with '+', e.g. d2dce+tac."""
    cond_weight: Optional[float] = None
    """λ, the weight of the conditioning loss (≥ 0); unset: the method's published default
    (0.5 for d2dce, 1 for the others; sources in docs/methods.md §2)."""
    labeling: str = "predefined"
    """Where a fake's target label comes from (docs/methods.md §3)."""
    label_prior: str = "uniform"
    """Class prior of fake targets in predefined labeling: uniform or data (train frequencies)."""
    g_conditioning: str = "concat"
    """Generator-side conditioning: none, concat, cbn, codebook (docs/methods.md §4)."""
    codebook_groups: int = 1
    """d_l of g_conditioning=codebook: the condition is d_l one-hot groups (1 for dataset labels)."""
    codebook_dim: int = 16
    """d_p of g_conditioning=codebook: numbers per page; d_l·d_p must be a multiple of s0² (the
    generator's first feature map, e.g. 4×4 = 16 for 8/32/64 px, 7×7 = 49 for 28 px)."""
    g_label_embedding: str = "embedding"
    """How concat feeds the label to G: embedding (learned) or onehot."""
    z_dim: int = 64
    embed_dim: int = 32
    g_width: int = 64
    d_width: int = 64
    g_depth: int = 0
    """Extra 3x3 convolutions per resolution (0 = plain DCGAN)."""
    d_depth: int = 0
    g_norm: str = "batch"
    """Normalization in G: batch, instance, layer, none, pixel (ProGAN's pixel norm) or
    virtual_batch (Improved-GAN's virtual batch norm over model.vbn_reference reference samples)."""
    d_norm: str = "none"
    """Normalization in D: batch, instance, layer, none, pixel."""
    vbn_reference: int = 64
    """model.g_norm=virtual_batch: R, the size of the fixed reference batch (drawn once from the
    run's seed) whose statistics normalize every sample; G's cost per step grows by R rows."""
    g_spectral_norm: bool = False
    d_spectral_norm: bool = False
    g_activation: str = "relu"
    d_activation: str = "lrelu"
    d_minibatch_std: int = 0
    """Minibatch standard-deviation channel at the end of D's trunk (ProGAN §3) with this group
    size (e.g. 4); 0 = off. Lets D see a batch's variety, against intra-class collapse."""
    cgp_groups: int = 1
    """labeling=classifier (CGPGAN) and random: d_l, the number of categorical groups (≥ 1)."""
    cgp_categories: int = 10
    """labeling=classifier and random: d_c, categories per group (≥ 2)."""
    q_width: int = 64
    """labeling=classifier: width of the classifier Q's trunk (built like D's)."""
    q_lr: float = 2e-4
    """labeling=classifier: Q's learning rate (Q uses train.optimizer with train.d_betas)."""
    cgp_cls_weight: float = 1.0
    """labeling=classifier: λ_cls of Q's loss (≥ 0)."""
    cgp_weight: float = 10.0
    """labeling=classifier: λ_cgp, the classifier gradient penalty weight (≥ 0)."""
    prior_decay: float = 0.99
    """labeling=classifier: EMA decay of the learned prior P(C), in [0, 1)."""
    prior_warmup: int = 0
    """labeling=classifier: until this step the prior update uses c − batchmean(c) + 1/d_c (≥ 0)."""
    info_categories: int = 10
    """labeling=infogan: K, the categories of the categorical code (≥ 2)."""
    info_continuous: int = 0
    """labeling=infogan: M continuous codes u ~ U[-1, 1] given to G with the category (≥ 0)."""
    info_weight: float = 1.0
    """labeling=infogan: λ_I, the weight of the mutual-information loss L_I (≥ 0)."""
    d_minibatch_disc: int = 0
    """Minibatch discrimination (Salimans 2016 §3.2) on D's trunk features with this many
    kernels B (e.g. 50); 0 = off."""
    d_minibatch_disc_dim: int = 5
    """C, the dimension of each minibatch-discrimination kernel."""
    vdb_dim: int = 0
    """Variational discriminator bottleneck (Peng 2019): a stochastic encoder of this many
    dimensions between D's trunk and its heads, with the KL constraint loss.vdb_ic; 0 = off."""
    equalized_lr: bool = False
    """Equalized learning rate (ProGAN §4.1) on every linear / convolution layer of G and D:
    weights N(0, 1), scaled at run time by 1/sqrt(fan_in). Not with spectral norm."""
    mlp_hidden: int = 128
    mlp_layers: int = 3
    attention: list[int] = field(default_factory=list)
    """model.net=resnet: SAGAN self-attention blocks in G and D at these feature-map resolutions
    (s0·2^i below the image size, e.g. 7 or 14 at 28 px, 4/8/16 at 32 px); empty = none."""
    hierarchical_z: bool = False
    """model.net=resnet: BigGAN's hierarchical latent: z is split into one chunk per G block plus
    one for the input layer; each chunk joins its block's conditional-norm input."""
    w_dim: Optional[int] = None
    """model.net=stylegan2: dimension of the intermediate latent w; unset = model.z_dim."""
    mapping_layers: int = 8
    """model.net=stylegan2: fully connected layers of the mapping network z → w (StyleGAN: 8;
    stylegan2-ada's CIFAR-10 setting: 2)."""
    mapping_lr: float = 0.01
    """model.net=stylegan2: learning-rate multiplier of the mapping network (StyleGAN App. C)."""
    w_avg_decay: float = 0.995
    """model.net=stylegan2: decay β of the tracked mean w̄ ← β w̄ + (1 − β) mean(w), the center
    that sampling's truncation pulls w toward."""
    init: str = "default"
    """Weight initialization of G and D: default (PyTorch's) or orthogonal (BigGAN §4)."""
    # Options of the feature-normalized conditioning losses (2c, d2dce; seed 004 §3), checked by
    # the methods themselves (ConditioningMethod.check) and ignored by the other methods.
    cond_temperature: Optional[float] = None
    """τ of the 2c / d2dce softmax over cosine similarities (> 0); unset: the method's published
    default (2c 1.0, d2dce 0.5; sources in docs/methods.md §2)."""
    cond_margin_pos: float = 0.98
    """D2D-CE positive margin m_p in [-1, 1]: easy positives f·v_y ≥ m_p give no gradient."""
    cond_margin_neg: Optional[float] = None
    """D2D-CE negative margin m_n in [-1, 1]; unset means 1 - cond_margin_pos."""
    cond_proj_dim: int = 512
    """Dimension d of the normalized embedding f = p(h)/|p(h)| (seed 004: 512 on CIFAR-10)."""
    d2dce_variant: str = "full"
    """full (Eq. 6), no_margin (Eq. 5: no clamps) or proxy_only (normalized softmax CE, Eq. 3)."""
    encoder: str = "none"
    """none, bigan (an encoder E trained adversarially; D scores pairs (x, z) on joint features,
    BiGAN / ALI) or bigbigan (D's heads on x plus the unary score of z and the joint score)."""
    encoder_clusters: int = 10
    """model.encoder: K of the k-means on E(x) behind `condgan cluster` and clustering metrics."""


@dataclass
class LossConfig:
    adversarial: str = "ns"
    """Adversarial loss (docs/methods.md §1): minimax, ns, ls, wasserstein, hinge."""
    mixed_batch: bool = False
    """One D forward over concatenated real+fake batches (seed 001 §3)."""
    label_smoothing: float = 0.0
    """One-sided label smoothing α: D's real target becomes 1 − α (ns, minimax, ls only)."""
    feature_matching: float = 0.0
    """λ of feature matching (Salimans 2016 §3.1): λ‖E f(x) − E f(G(z))‖² on D's trunk features
    is added to G's loss; 0 = off."""
    feature_matching_only: bool = False
    """G's loss is the feature-matching term alone, without the adversarial term (the paper's
    objective); needs loss.feature_matching > 0 and model.conditioning=none."""
    vdb_ic: float = 0.1
    """model.vdb_dim > 0: I_c, the bound on E KL(E(z|x) ‖ N(0, I)) the bottleneck enforces (nats)."""
    vdb_beta_step: float = 1e-5
    """model.vdb_dim > 0: α_β of the dual update β ← max(0, β + α_β (E KL − I_c)) after every D step."""
    vdb_beta_init: float = 0.0
    """model.vdb_dim > 0: β at the first step."""


@dataclass
class TrainConfig:
    steps: int = 2000
    """Generator steps."""
    batch_size: int = 64
    d_steps: int = 1
    """Discriminator steps per generator step (n_critic)."""
    optimizer: str = "adam"
    """adam, adamw or rmsprop (WGAN's choice; train.*_betas are then not used)."""
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    g_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    d_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    weight_decay: float = 0.0
    progressive_stable: int = 0
    """model.net=progan: steps at each resolution before the next one fades in (and at the first)."""
    progressive_fade: int = 0
    """model.net=progan: steps over which a new resolution fades in (α from 0 to 1); with
    progressive_stable = 0 as well, the full network trains from the first step."""
    ema: float = 0.999
    """Generator EMA decay; 0 disables EMA."""
    ema_start: int = 0
    standing_stats: int = 50
    """Batches used to recompute the EMA generator's BN statistics before sampling (BigGAN
    'standing statistics'); 0 uses the EMA-averaged buffers, which do not match the EMA weights
    (on the quickstart run: FID 310 with averaged buffers, 90 with standing statistics)."""
    checkpoint_every: int = 500
    log_every: int = 50
    sample_every: int = 500
    diffaugment: list[str] = field(default_factory=list)
    """DiffAugment policies applied to every D input (Zhao 2020): any of color, translation,
    cutout, e.g. [color, translation, cutout]; empty = off."""
    topk: bool = False
    """Top-k training (Sinha 2020): G's loss on the k fakes D finds most realistic."""
    topk_gamma: float = 0.99
    """k = max(γ^epoch·B, ν·B): γ, the decay of k per epoch."""
    topk_min: float = 0.5
    """ν, the smallest k as a fraction of the batch."""
    unrolled_steps: int = 0
    """Unrolled GAN (Metz 2017): G's loss against D after this many look-ahead steps; 0 = off."""
    init_from: Optional[str] = None
    """Start a new run from the G, D (and EMA) weights of this run directory (fine-tuning)."""
    freeze_d: int = 0
    """FreezeD (Mo 2020): keep the first N weight layers of D's trunk as train.init_from has them."""
    diagnostics: bool = False
    """Log D's mean trunk-feature norm on reals and the norm of the conditioning loss's gradient
    with respect to D's parameters every step (seed 004 §3 analysis; costs one extra backward)."""
    precision: str = "fp32"
    """fp32, bf16 (torch.autocast), fp16 (CUDA only, gradient scaling covers the penalties) or auto
    (bf16 on a CPU with native bf16, else fp32). fp32 is the default: bf16 changes the training
    math (quality not measured over seeds). See condgan.training.precision."""
    channels_last: str = "auto"
    """auto, true or false: channels-last memory format for G, D and image batches (auto: on for conv nets on CPU)."""
    compile: bool = False
    """torch.compile G's and D's forward (nn.Module.compile: checkpoints keep their keys)."""
    reuse_fakes: bool = False
    """The G step reuses the fakes of the (last) D step, generated once with gradient, instead of
    generating new ones: one G forward less per step. G's update then sees the latents D was just
    trained on, a change of the algorithm, so it is off by default; the quickstart preset turns it
    on, where 3 seeds showed no detectable change of FID, recall or accuracy (docs/results/speed/)."""
    tune_malloc: bool = False
    """Keep freed host memory blocks mapped between steps instead of returning them to the OS
    (glibc only; process-wide; see condgan.training.allocator). It cures the page-fault storms
    some processes fall into (up to ~11,000 faults per quickstart step, ~25 % of its time), but
    the real training runs measured never had one, so it is opt-in. Changes no computed number."""
    threads: int = 0
    """torch CPU threads; 0 = the CPUs this process may use (affinity and quota), at most 4 (see
    condgan.training.threads.resolve_threads). Set 1 when several runs share the machine: extra
    threads then spin-wait on each other. A resume is bit-identical only with the same count."""
    sync_batchnorm: bool = False
    """Multi-process runs on CUDA: the batch-norm layers of G and D normalize with the statistics
    of the global batch (torch.nn.SyncBatchNorm) instead of each process's own. Rejected on CPU
    (SyncBatchNorm has no CPU kernel) and with a gradient penalty (gp, r1, r2) through a batch-norm
    D (no double backward)."""


@dataclass
class EvalConfig:
    every: int = 0
    """Evaluate every N steps during training; 0 disables."""
    metrics: list[str] = field(default_factory=lambda: ["fid", "conditional_accuracy"])
    num_samples: int = 1000
    extractor: str = "domain"
    real_split: str = "auto"
    """Real split the fakes are compared with: auto (default: test when it holds ≥ 10,000 images,
    else the larger train split), test or train."""
    best_metric: Optional[str] = None
    """Keep a `best` checkpoint by this metric (lower is better unless the metric says so)."""


@dataclass
class Config:
    seed: int = 0
    device: str = "auto"
    """auto (cuda → mps → cpu), cpu, cuda, cuda:N, mps."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ada: AdaConfig = field(default_factory=AdaConfig)
    """Adaptive discriminator augmentation (ADA)."""
    apa: ApaConfig = field(default_factory=ApaConfig)
    """Adaptive pseudo augmentation (APA)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    description: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Keys a resumed run may change: they do not alter what a step computes. `device` may be
# respelled (auto → cpu) but the trainer refuses a different resolved device type (the RNG state
# is device-bound); `train.threads` may change, with a warning that the resume is then no longer
# bit-identical (thread count changes how CPU reductions are split). `train.precision` and
# `train.channels_last` may be respelled (auto ↔ what auto chose): the trainer checks their
# resolved values against the ones the checkpoint recorded and refuses a change.
RESUMABLE_KEYS = {
    "train.precision", "train.channels_last",
    "train.steps", "train.checkpoint_every", "train.log_every", "train.sample_every",
    "train.threads", "train.tune_malloc", "eval.every", "eval.metrics", "eval.num_samples", "eval.extractor", "eval.real_split",
    "eval.best_metric", "description", "device",
    # Streaming only changes where the pixels are decoded: same batches, same values.
    "data.stream", "data.stream_threshold_mb", "data.stream_workers",
}


def config_from_dict(data: dict) -> Config:
    """A nested dict (YAML, a checkpoint's config) → Config; keys and types checked only."""
    return from_dict(Config, data)


def config_keys() -> list[str]:
    """Every leaf key of the config, dotted (`train.steps`)."""
    return flat_keys(Config)


def apply_override(data: dict, assignment: str) -> None:
    """Apply one `key.sub=value` override (value parsed as YAML) to a nested dict in place."""
    if "=" not in assignment:
        raise CondganError(f"--set expects KEY=VALUE, got '{assignment}'")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    valid = config_keys()
    if key not in valid:
        raise CondganError(f"unknown config key '{key}' in --set{suggest(key, valid)}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node = data
    *parents, leaf = key.split(".")
    for p in parents:
        if node.get(p) is None:  # missing, or an empty YAML section (`reg:` reads as None)
            node[p] = {}
        elif not isinstance(node[p], dict):
            raise CondganError(f"config section '{p}' must be a mapping, got {node[p]!r}")
        node = node[p]
    node[leaf] = value


def parse_config(source: str | dict, overrides: list[str] = ()) -> Config:
    """Preset / YAML path / dict, plus `key=value` overrides → Config, keys and types checked.
    Not validated against the registries: `condgan.validation.load_config` does both."""
    from condgan.arguments import check_strings

    if not isinstance(source, (str, os.PathLike, dict)):
        raise CondganError(f"load_config needs a preset name, a YAML file path or a dict, got {source!r}")
    overrides = check_strings(overrides, "overrides", "['train.steps=500']")
    data = read_config_source(os.fspath(source)) if not isinstance(source, dict) else copy.deepcopy(dict(source))
    for assignment in overrides:
        apply_override(data, assignment)
    return config_from_dict(data)



def config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, prefix + key + ".")
        elif va != vb:
            out.append(prefix + key)
    return out
