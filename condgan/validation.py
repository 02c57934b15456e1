"""Up-front config validation: registry names, value ranges and the combinations the math does
not allow. Runs before any data is loaded or any network is built.

This sits above the registries it reads (networks, losses, labeling modes, data sources,
metrics, feature extractors), so `condgan.config` below them only declares and parses. Callers:
the CLI and `condgan.api` (`load_config`), the trainer (`Trainer.setup`, `preflight`) before it
touches a run directory."""

from __future__ import annotations

from condgan.config import Config, parse_config
from condgan.errors import CondganError
from condgan.registry import choice_reason, suggest

G_CONDITIONING = ("none", "concat", "cbn", "codebook")
"""G conditionings of the networks whose builder does not list its own (`g_conditionings`)."""
LABEL_EMBEDDINGS = ("embedding", "onehot")
LABEL_PRIORS = ("uniform", "data")


STREAM_CHOICES = ("auto", "true", "false")


def load_config(source: str | dict, overrides: list[str] = ()) -> Config:
    """Preset / YAML path / dict, plus `key=value` overrides → validated Config: unknown keys,
    wrong types, unknown registry names and combinations the math does not allow raise
    CondganError naming the key."""
    cfg = parse_config(source, overrides)
    validate_config(cfg)
    return cfg


def _choice(key: str, value: str, choices) -> None:
    reason = choice_reason(key, value, choices)
    if reason:
        raise CondganError(reason)


def _positive(key: str, value, allow_zero: bool = False) -> None:
    if value != value or value < 0 or (value == 0 and not allow_zero):  # value != value: NaN
        raise CondganError(f"config key '{key}' must be {'≥ 0' if allow_zero else '> 0'}, got {value}")


def _registry(key: str, registry, name: str) -> None:
    try:
        registry.get(name)
    except CondganError as e:
        raise CondganError(f"config key '{key}': {e}") from None


def unlabeled_message(cfg, needs: list[str], what: str) -> str:
    """The one-line error for settings that train on labels the data does not give."""
    return (f"{what}, but {' and '.join(needs)} train{'s' if len(needs) == 1 else ''} on class labels; "
            "train an unconditional GAN (--set model.conditioning=none --set model.g_conditioning=none) or "
            "let the model find categories (model.labeling=classifier or infogan)")


def validate_config(cfg: Config) -> None:
    """Check names against registries and cross-key rules; raise CondganError on the first problem."""
    from condgan.losses.adversarial import ADVERSARIAL_LOSSES
    from condgan.losses.conditioning import CONDITIONING
    from condgan.nets import NETWORKS
    from condgan.nets.layers import ACTIVATIONS, GENERATOR_ONLY_NORMS, NORMS
    from condgan.training.labeling import LABELING
    from condgan.training.optimizers import OPTIMIZERS

    from condgan.arguments import check_seed

    m, t = cfg.model, cfg.train
    check_seed(cfg.seed, "config key 'seed'")
    check_seed(cfg.data.split_seed, "config key 'data.split_seed'")
    _registry("model.net", NETWORKS, m.net)
    _registry("model.conditioning", CONDITIONING, m.conditioning)
    _registry("model.labeling", LABELING, m.labeling)
    _registry("loss.adversarial", ADVERSARIAL_LOSSES, cfg.loss.adversarial)
    _choice("model.g_conditioning", m.g_conditioning, getattr(NETWORKS.get(m.net), "g_conditionings", G_CONDITIONING))
    _choice("model.g_label_embedding", m.g_label_embedding, LABEL_EMBEDDINGS)
    _choice("model.label_prior", m.label_prior, LABEL_PRIORS)
    _choice("model.g_norm", m.g_norm, NORMS)
    _choice("model.d_norm", m.d_norm, NORMS)
    if m.d_norm in GENERATOR_ONLY_NORMS:
        raise CondganError(f"model.d_norm={m.d_norm} is a generator normalization (its reference batch is a "
                           "fixed set of latents); use batch, instance, layer, pixel or none in D")
    _choice("model.g_activation", m.g_activation, list(ACTIVATIONS))
    _choice("model.d_activation", m.d_activation, list(ACTIVATIONS))
    _choice("train.optimizer", t.optimizer, tuple(OPTIMIZERS))
    from condgan.training.precision import CHANNELS_LAST, INITS, PRECISIONS

    _choice("train.precision", t.precision, PRECISIONS)
    _choice("train.channels_last", t.channels_last, CHANNELS_LAST)
    _choice("model.init", m.init, INITS)
    for key in ("z_dim", "embed_dim", "g_width", "d_width", "mlp_hidden", "mlp_layers", "codebook_groups",
                "codebook_dim"):
        _positive(f"model.{key}", getattr(m, key))
    for key in ("vbn_reference", "d_minibatch_disc_dim"):
        _positive(f"model.{key}", getattr(m, key))
    for key in ("g_depth", "d_depth", "d_minibatch_std", "d_minibatch_disc", "vdb_dim"):
        _positive(f"model.{key}", getattr(m, key), allow_zero=True)
    for key in ("steps", "batch_size", "d_steps", "checkpoint_every", "log_every", "g_lr", "d_lr"):
        _positive(f"train.{key}", getattr(t, key))
    for key in ("sample_every", "standing_stats", "threads", "ema_start", "weight_decay", "progressive_stable",
                "progressive_fade"):
        _positive(f"train.{key}", getattr(t, key), allow_zero=True)
    for key in ("g_betas", "d_betas"):
        betas = getattr(t, key)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise CondganError(f"config key 'train.{key}' must be two numbers in [0, 1), got {betas}")
    if not 0 <= t.ema < 1:
        raise CondganError(f"config key 'train.ema' must be in [0, 1) (0 disables EMA), got {t.ema}")
    for name in ("gp", "r1", "r2", "cr", "cr_fake", "lecam", "pl", "dragan", "historical_averaging", "weight_clip"):
        _positive(f"reg.{name}", getattr(cfg.reg, name), allow_zero=True)
    _validate_style_and_adaptive(cfg)
    from condgan.augment import AUGMENTATIONS

    for policy in t.diffaugment:
        _registry("train.diffaugment", AUGMENTATIONS, policy)
    if not 0 <= cfg.loss.label_smoothing < 1:
        raise CondganError(f"config key 'loss.label_smoothing' must be in [0, 1), got {cfg.loss.label_smoothing}")
    if m.cond_weight is not None:  # unset: the method's default
        _positive("model.cond_weight", m.cond_weight, allow_zero=True)
    for key in ("feature_matching", "vdb_ic", "vdb_beta_step", "vdb_beta_init"):
        _positive(f"loss.{key}", getattr(cfg.loss, key), allow_zero=True)
    _positive("eval.every", cfg.eval.every, allow_zero=True)
    _positive("eval.num_samples", cfg.eval.num_samples)
    _choice("eval.real_split", cfg.eval.real_split, ("auto", "test", "train"))
    from condgan.training.build import resolve_device
    from condgan.training.precision import check_precision_config

    check_precision_config(cfg, resolve_device(cfg.device))
    _validate_network_options(cfg)

    try:
        from condgan.data import validate_data_config
    except ImportError:  # data layer without cheap validation
        validate_data_config = None
    if validate_data_config is not None:
        validate_data_config(cfg.data)

    # Combinations the math does not allow.
    from condgan.training.extensions import check_extensions, enabled_extensions

    for reason in (CONDITIONING.get(m.conditioning).check(cfg), LABELING.get(m.labeling).check(cfg),
                   check_extensions(cfg), *(extension.check(cfg) for extension in enabled_extensions(cfg))):
        if reason:
            raise CondganError(reason)
    if cfg.data.unlabeled:
        needs = LABELING.get(m.labeling).labels_needed(cfg)
        if needs:
            raise CondganError(unlabeled_message(cfg, needs, "data.unlabeled=true hides the labels"))
    adversarial = ADVERSARIAL_LOSSES.get(cfg.loss.adversarial)
    if m.equalized_lr and (m.g_spectral_norm or m.d_spectral_norm):
        raise CondganError("model.equalized_lr=true cannot be combined with spectral norm (its "
                           "normalization would undo the runtime scaling); set model.g_spectral_norm="
                           "false and model.d_spectral_norm=false, or model.equalized_lr=false")
    if adversarial.needs_lipschitz and cfg.reg.gp == 0 and cfg.reg.weight_clip == 0 and not m.d_spectral_norm:
        raise CondganError(
            f"loss.adversarial={adversarial.name} needs a Lipschitz-constrained critic: set reg.gp "
            "(e.g. 10, WGAN-GP), reg.weight_clip (e.g. 0.01, WGAN) or model.d_spectral_norm=true")
    if cfg.loss.label_smoothing > 0 and adversarial.real_term_with_target is None:
        raise CondganError(f"loss.label_smoothing needs a loss with a real target (ns, minimax, ls); "
                           f"loss.adversarial={adversarial.name} has none")
    for name in ("gp", "dragan"):
        if getattr(cfg.reg, name) > 0 and m.d_norm == "batch":
            raise CondganError(
                f"reg.{name} with model.d_norm=batch: the gradient penalty is per sample, but batch norm makes "
                "each output depend on the whole batch (Gulrajani 2017 §4); use d_norm=layer/instance/none")
    if cfg.loss.feature_matching_only and cfg.loss.feature_matching == 0:
        raise CondganError("loss.feature_matching_only=true needs the feature-matching weight: set "
                           "loss.feature_matching (e.g. 1.0)")
    if (t.progressive_stable or t.progressive_fade) and m.net != "progan":
        raise CondganError(f"train.progressive_stable / train.progressive_fade grow a model.net=progan network; "
                           f"model.net={m.net} has a fixed resolution (set model.net=progan, or both to 0)")
    if t.sync_batchnorm:
        if cfg.device == "cpu" or cfg.device == "mps":
            raise CondganError(f"train.sync_batchnorm needs CUDA devices (torch's SyncBatchNorm has no "
                               f"{cfg.device} kernel); set train.sync_batchnorm=false or device=cuda")
        if m.d_norm == "batch" and (cfg.reg.r1 > 0 or cfg.reg.r2 > 0):
            raise CondganError("train.sync_batchnorm with model.d_norm=batch and reg.r1/reg.r2: the "
                               "penalty differentiates D twice, which SyncBatchNorm does not support; "
                               "use d_norm=layer/instance/none or train.sync_batchnorm=false")
    _choice("data.stream", cfg.data.stream, STREAM_CHOICES)
    _positive("data.stream_threshold_mb", cfg.data.stream_threshold_mb)
    _positive("data.stream_workers", cfg.data.stream_workers, allow_zero=True)
    if m.g_conditioning == "cbn" and m.g_norm == "none":
        raise CondganError("model.g_conditioning=cbn needs a normalization in G; set model.g_norm=batch")
    _validate_eval(cfg)


def _validate_network_options(cfg) -> None:
    """Options only some network families have: a family with self-attention exposes
    `check_attention(resolutions, image_size)` on its builder."""
    from condgan.nets import NETWORKS

    m = cfg.model
    check_attention = getattr(NETWORKS.get(m.net), "check_attention", None)
    if m.attention and check_attention is None:
        raise CondganError(f"model.attention={m.attention} needs model.net=resnet (model.net={m.net} "
                           "has no self-attention blocks)")
    if m.hierarchical_z and m.net != "resnet":
        raise CondganError(f"model.hierarchical_z=true needs model.net=resnet, not model.net={m.net}")
    if m.attention:
        check_attention(m.attention, cfg.data.image_size)


def _unit_interval(key: str, value: float, closed_right: bool = True) -> None:
    if not (0 <= value <= 1 if closed_right else 0 <= value < 1):
        raise CondganError(f"config key '{key}' must be in [0, 1{']' if closed_right else ')'}, got {value}")


def _validate_style_and_adaptive(cfg) -> None:
    """StyleGAN2 options, lazy regularization, LeCam, and the adaptive augmentations (ADA, APA)."""
    from condgan.adaptive import adaptive_enabled, expand_operations
    from condgan.nets import NETWORKS

    m, reg = cfg.model, cfg.reg
    style_based = getattr(NETWORKS.get(m.net), "style_based", False)
    for key in ("pl", "style_mixing"):
        if getattr(reg, key) > 0 and not style_based:
            raise CondganError(f"reg.{key}={getattr(reg, key)} needs a style-based generator (model.net=stylegan2), "
                               f"not model.net={m.net}")
    if style_based:
        for key in ("g_spectral_norm", "d_spectral_norm"):
            if getattr(m, key):
                raise CondganError(f"model.{key}=true: model.net={m.net} normalizes its weights by equalized "
                                   f"learning rate and demodulation; set model.{key}=false")
        for key in ("g_depth", "d_depth"):
            if getattr(m, key):
                raise CondganError(f"model.{key}={getattr(m, key)}: model.net={m.net} has a fixed number of "
                                   f"layers per resolution; set model.{key}=0")
    if m.w_dim is not None:
        _positive("model.w_dim", m.w_dim)
    _positive("model.mapping_layers", m.mapping_layers)
    _positive("model.mapping_lr", m.mapping_lr)
    _unit_interval("model.w_avg_decay", m.w_avg_decay, closed_right=False)
    for key in ("d_interval", "pl_interval", "pl_batch_shrink"):
        _positive(f"reg.{key}", getattr(reg, key))
    _unit_interval("reg.lecam_decay", reg.lecam_decay, closed_right=False)
    _unit_interval("reg.style_mixing", reg.style_mixing)
    if not 0 < reg.pl_decay <= 1:
        raise CondganError(f"config key 'reg.pl_decay' must be in (0, 1], got {reg.pl_decay}")
    if reg.pl > 0 and cfg.train.batch_size < reg.pl_batch_shrink:
        raise CondganError(f"reg.pl_batch_shrink={reg.pl_batch_shrink} leaves no fake of train.batch_size="
                           f"{cfg.train.batch_size} for the path-length penalty; use a smaller shrink")
    for section in ("ada", "apa"):
        a = getattr(cfg, section)
        _unit_interval(f"{section}.p", a.p)
        if a.target is not None:
            _unit_interval(f"{section}.target", a.target)
        _positive(f"{section}.interval", a.interval)
        _positive(f"{section}.kimg", a.kimg)
    expand_operations(cfg.ada.pipeline)
    if adaptive_enabled(cfg.ada) and not cfg.ada.pipeline:
        raise CondganError("ADA is on (ada.target or ada.p is set) but ada.pipeline is empty; "
                           "name operations, e.g. ada.pipeline=[bgc]")


def _validate_eval(cfg) -> None:
    try:
        from condgan.metrics import METRICS
        from condgan.features import EXTRACTORS
    except ImportError:
        return
    for name in cfg.eval.metrics:
        _registry("eval.metrics", METRICS, name)
    _registry("eval.extractor", EXTRACTORS, cfg.eval.extractor)
    best = cfg.eval.best_metric
    if best is not None:
        # keys with a direction (fid, precision, intra_fid/3, ...) of the metrics computed
        scored = [key for name in cfg.eval.metrics for key in METRICS.get(name).higher_is_better]
        owner = next((METRICS.get(n) for n in cfg.eval.metrics
                      if best in METRICS.get(n).higher_is_better or best.split("/")[0] == n), None)
        if owner is None or owner.is_higher_better(best) is None:
            raise CondganError(f"config key 'eval.best_metric': '{best}' is not a score of eval.metrics "
                               f"[{', '.join(cfg.eval.metrics)}]{suggest(best, scored)}; choose one of: "
                               f"{', '.join(scored)} (or add its metric to eval.metrics)")
        if cfg.eval.every == 0:
            raise CondganError(f"config key 'eval.best_metric={best}' keeps best.pt by evaluations during "
                               "training, but eval.every=0 turns them off; set eval.every (e.g. 500) or drop "
                               "eval.best_metric")
