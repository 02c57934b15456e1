"""The domain classifier: a small CNN trained on a data set's own labeled train split.

Why: Inception-V3 weights cannot be downloaded everywhere, and ImageNet features say little
about 28×28 digits anyway. SPEC §6 therefore asks for a second extractor route: a classifier
trained on the data set itself, whose 128-d penultimate layer gives the features (FID, KID,
precision/recall, ...) and whose softmax gives `C(x)` (IS, AM Score, conditional accuracy).

A trained classifier is cached on disk, keyed by everything that changes what it learns (the
data options and its seed, plus a code version), so every run that evaluates on the same data
reuses one classifier, and reference statistics cached under its `id` stay valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from condgan.config import DataConfig
from condgan.data.base import ImageData
from condgan.errors import CondganError
from condgan.io import atomic_path
from condgan.features.base import EXTRACTORS, adapt_channels, cache_root, extract, resolve_device

# Bump whenever the architecture or the training recipe changes: it is part of the cache key,
# so old cached classifiers (and reference statistics keyed by the extractor id) are not reused.
DOMAIN_CLASSIFIER_VERSION = 1
NUM_FEATURES = 128
WIDTH = 24  # channels of the first block (then 2×, 4×): Fashion-MNIST > 90 % in 3 epochs
# Data options that change what the classifier sees, hence part of the cache key.
KEY_FIELDS = ("name", "root", "image_size", "channels", "classes", "class_fractions", "attributes",
              "split_seed", "test_fraction", "num_samples")
# Default training length: about this many optimizer steps, but at least MIN_EPOCHS epochs
# (MNIST-5k: 9 epochs of batch 128; Fashion-MNIST: 3 epochs of batch 256).
TARGET_STEPS = 300
MIN_EPOCHS = 3
# CPU threads while training. These small convolutions gain little from intra-op threads, and on
# a busy machine threads spin against each other: MNIST-5k took 21 s with 1 thread and 140 s
# with 2 on a shared 2-core box. Pass threads=N (CLI --threads N) on an idle many-core machine.
TRAIN_THREADS = 1

Loader = Callable[[DataConfig, str], ImageData]
Log = Optional[Callable[[str], None]]


# --------------------------------------------------------------------------- network
def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DomainClassifier(nn.Module):
    """Three conv-BN-ReLU blocks + a 128-d feature layer + a K-way head.

    Size-agnostic (8..64 px and beyond): a 2× max pool follows a block only while the map is
    large enough, and an adaptive 3×3 max pool feeds the feature layer (max, not average:
    +1 point on Fashion-MNIST at the same cost). `forward` returns
    (features, logits); features are the post-ReLU penultimate activations.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = WIDTH, num_features: int = NUM_FEATURES):
        super().__init__()
        self.block1 = _conv_bn_relu(in_channels, width)
        self.block2 = _conv_bn_relu(width, 2 * width)
        self.block3 = _conv_bn_relu(2 * width, 4 * width)
        self.pool = nn.AdaptiveMaxPool2d(3)
        self.embed = nn.Linear(4 * width * 9, num_features)
        self.head = nn.Linear(num_features, num_classes)
        # channels-last convolutions are 2-4× faster on CPU for these small maps
        self.to(memory_format=torch.channels_last)

    @staticmethod
    def _downsample(h: torch.Tensor, min_size: int) -> torch.Tensor:
        return F.max_pool2d(h, 2) if min(h.shape[-2:]) >= min_size else h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        h = self._downsample(self.block1(x), 16)  # 28 → 14, 8 stays 8
        h = self._downsample(self.block2(h), 8)  # 14 → 7, 8 → 4
        h = self.pool(self.block3(h))
        features = F.relu(self.embed(h.flatten(1)))
        return features, self.head(features)


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) ∈ [-max_shift, max_shift]², filling the
    border by replication. Done on the whole batch with one gather (no per-image Python)."""
    if max_shift <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, mode="replicate")
    shifts = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).to(images.device)
    rows = (torch.arange(h, device=images.device)[None] + shifts[0][:, None])[:, :, None]  # n×h×1
    cols = (torch.arange(w, device=images.device)[None] + shifts[1][:, None])[:, None, :]  # n×1×w
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # gather gives n×h×w×c


# --------------------------------------------------------------------------- training
def _check_labeled_images(data: ImageData, split: str) -> None:
    if not data.is_image:
        raise CondganError(f"the domain classifier needs image data; the {split} split holds "
                           f"vectors of shape {tuple(data.images.shape)}")
    if data.labels is None or data.num_classes < 2:
        raise CondganError(
            f"the domain classifier needs a labeled {split} split with at least 2 classes; "
            "score unlabeled data with the Inception extractor (`condgan evaluate --extractor inception`; "
            "eval.extractor=inception in a training config)"
        )


def _loss(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels)


def accuracy(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool = False) -> float:
    """Top-1 accuracy; for multi-hot labels the mean per-attribute accuracy at logit 0."""
    if multi_label:
        return ((logits > 0).float() == labels.float()).float().mean().item()
    return (logits.argmax(1) == labels).float().mean().item()


def default_schedule(num_train: int, epochs: Optional[int], batch_size: Optional[int]) -> tuple[int, int]:
    """(epochs, batch_size): batch 128 for small sets, 256 from 20k images; enough epochs for
    about TARGET_STEPS steps, at least MIN_EPOCHS."""
    batch_size = batch_size or (256 if num_train >= 20000 else 128)
    if epochs is None:
        steps_per_epoch = max(1, num_train // batch_size)
        epochs = max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch))
    if epochs < 1 or batch_size < 2:
        raise CondganError(f"domain classifier needs epochs >= 1 and batch_size >= 2, got {epochs}, {batch_size}")
    return epochs, batch_size


def _train_loop(train: ImageData, seed: int, epochs: int, batch_size: int, steps_per_epoch: int,
                lr: float, width: int, max_shift: int, device: torch.device, log: Log) -> DomainClassifier:
    """The optimization itself; returns the model in eval mode."""
    n = len(train)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):  # leave the caller's RNG untouched
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = DomainClassifier(train.images.shape[1], train.num_classes, width).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for step in range(steps_per_epoch):
                idx = order[step * batch_size:(step + 1) * batch_size]
                x = train.images[idx].to(device, non_blocking=True)
                y = train.labels[idx].to(device, non_blocking=True)
                _, logits = model(random_translate(x, max_shift, gen))
                loss = _loss(logits, y, train.multi_label)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
            if log:
                log(f"domain classifier epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f}")
    return model.eval()


def fit_domain_classifier(
    train: ImageData,
    test: Optional[ImageData] = None,
    *,
    seed: int = 0,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    lr: float = 3e-3,
    width: int = WIDTH,
    device: str | torch.device = "cpu",
    threads: int = TRAIN_THREADS,
    log: Log = None,
) -> tuple[DomainClassifier, dict]:
    """Train a DomainClassifier on in-memory data; return (model in eval mode, info dict).

    `threads` > 0 sets torch's CPU threads for the duration of training (restored afterwards);
    0 keeps the current setting. The default is one thread (see TRAIN_THREADS).

    Adam with a one-cycle learning-rate schedule, random translations of up to 1/28 of the image
    side (at least 1 px; 1 px at 28 px) as the only augmentation. Deterministic on CPU for a fixed seed.
    """
    _check_labeled_images(train, "train")
    device = resolve_device(device)
    epochs, batch_size = default_schedule(len(train), epochs, batch_size)
    n = len(train)
    steps_per_epoch = max(1, n // batch_size)  # drop the ragged last batch: BN needs >1 sample
    channels, height, width_px = train.sample_shape
    max_shift = max(1, round(min(height, width_px) / 28))
    started = time.perf_counter()

    previous_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        model = _train_loop(train, seed, epochs, batch_size, steps_per_epoch, lr, width, max_shift, device, log)
        test_accuracy = None
        if test is not None and len(test) > 0:
            _check_labeled_images(test, "test")
            view = DomainExtractor(model, {"image_size": [height, width_px]})
            logits = extract(view, test, 1024, keys=["logits"])["logits"]
            test_accuracy = accuracy(logits, test.labels, test.multi_label)
    finally:
        torch.set_num_threads(previous_threads)
    info = {
        "version": DOMAIN_CLASSIFIER_VERSION,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "steps": epochs * steps_per_epoch,
        "lr": lr,
        "width": width,
        "in_channels": channels,
        "image_size": [height, width_px],
        "num_classes": train.num_classes,
        "num_features": NUM_FEATURES,
        "class_names": list(train.class_names),
        "multi_label": train.multi_label,
        "train_size": n,
        "test_size": len(test) if test is not None else 0,
        "test_accuracy": test_accuracy,
        "train_seconds": round(time.perf_counter() - started, 2),
        "torch": torch.__version__,
    }
    return model, info


def _default_loader() -> Loader:
    try:
        from condgan.data import load_dataset
    except ImportError:
        raise CondganError("condgan.data.load_dataset is not available in this installation") from None
    return load_dataset


def train_domain_classifier(
    data_cfg: DataConfig,
    seed: int = 0,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    device: str | torch.device = "cpu",
    loader: Optional[Loader] = None,
    threads: int = TRAIN_THREADS,
    log: Log = None,
) -> tuple[DomainClassifier, dict]:
    """Load the train and test splits of `data_cfg` and fit a classifier (no caching).

    The info dict also records the cache key and the data options it was computed from.
    """
    load = loader or _default_loader()
    model, info = fit_domain_classifier(
        load(data_cfg, "train"), load(data_cfg, "test"),
        seed=seed, epochs=epochs, batch_size=batch_size, device=device, threads=threads, log=log,
    )
    info["key"] = domain_cache_key(data_cfg, seed)
    info["data"] = _key_fields(data_cfg)
    return model, info


# --------------------------------------------------------------------------- extractor
class DomainExtractor(nn.Module):
    """Feature-extractor view of a DomainClassifier (see condgan.features.base).

    Images of another size are resized (bilinear) to the training size and gray/RGB channels
    are adapted, so generated images of any layout can be scored.
    """

    def __init__(self, model: DomainClassifier, info: dict, id: str = "domain-untracked",
                 cache_path: Optional[Path] = None, from_cache: bool = False):
        super().__init__()
        self.model = model
        self.info = info
        self.id = id
        self.cache_path = cache_path
        self.from_cache = from_cache
        self.num_features = model.embed.out_features
        self.num_classes = model.head.out_features
        self.in_channels = model.block1[0].in_channels
        self.image_size = tuple(info["image_size"])

    @property
    def test_accuracy(self) -> Optional[float]:
        return self.info.get("test_accuracy")

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = adapt_channels(images, self.in_channels)
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        features, logits = self.model(x)
        return {"features": features, "logits": logits}


# --------------------------------------------------------------------------- cache
def _key_fields(data_cfg: DataConfig) -> dict:
    fields = {k: getattr(data_cfg, k) for k in KEY_FIELDS}
    if fields["root"] is not None:  # the same directory spelled differently is the same data
        fields["root"] = os.path.abspath(os.path.expanduser(fields["root"]))
    return fields


def domain_cache_key(data_cfg: DataConfig, seed: int = 0) -> str:
    """16 hex digits of SHA-256 over the data options that shape the classifier, its seed and
    DOMAIN_CLASSIFIER_VERSION."""
    if not dataclasses.is_dataclass(data_cfg):
        raise CondganError(f"expected a DataConfig, got {type(data_cfg).__name__}")
    payload = {"data": _key_fields(data_cfg), "seed": seed, "version": DOMAIN_CLASSIFIER_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def domain_cache_paths(data_cfg: DataConfig, seed: int = 0, cache_dir=None) -> tuple[Path, Path]:
    """(weights .safetensors, info .json) paths of the cached classifier for these options."""
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', data_cfg.name)}-{domain_cache_key(data_cfg, seed)}"
    folder = cache_root(cache_dir) / "domain_classifier"
    return folder / f"{stem}.safetensors", folder / f"{stem}.json"


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp_path)`, then the temporary file atomically replaces `path`."""
    with atomic_path(path) as tmp:
        write(tmp)


def _write_json(obj: dict) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())

    return write


def save_domain_classifier(model: DomainClassifier, info: dict, weights_path: Path, info_path: Path) -> None:
    """Weights first, info second: the info file marks a complete cache entry."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(weights_path, lambda tmp: save_file(state, tmp))
    _atomic_write(info_path, _write_json(info))


def load_domain_classifier(weights_path: Path, info_path: Path) -> tuple[DomainClassifier, dict]:
    """Rebuild a cached classifier; raises CondganError when the entry is unreadable."""
    try:
        info = json.loads(info_path.read_text())
        model = DomainClassifier(info["in_channels"], info["num_classes"], info["width"], info["num_features"])
        model.load_state_dict(load_file(str(weights_path)), strict=True)
    except Exception as e:  # noqa: BLE001 - any failure means a broken cache entry
        raise CondganError(f"cached domain classifier {weights_path} is unreadable ({e}); "
                           "delete it to retrain") from None
    return model.eval(), info


def get_domain_extractor(
    data_cfg: DataConfig,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cache_dir=None,
    train_if_missing: bool = True,
    retrain: bool = False,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    loader: Optional[Loader] = None,
    threads: int = TRAIN_THREADS,
    log: Log = None,
) -> DomainExtractor:
    """The domain extractor for `data_cfg`: loaded from the cache, else trained and cached.

    `epochs`/`batch_size` only matter when training; a cached entry trained with other explicitly
    requested values is retrained. `loader(cfg, split)` defaults to condgan.data.load_dataset.
    """
    weights_path, info_path = domain_cache_paths(data_cfg, seed, cache_dir)
    ident = f"domain-v{DOMAIN_CLASSIFIER_VERSION}-{weights_path.stem}"
    device = resolve_device(device)
    why = "retraining was requested" if retrain else "no classifier is cached"
    if info_path.is_file() and weights_path.is_file() and not retrain:
        try:
            model, info = load_domain_classifier(weights_path, info_path)
        except CondganError as e:
            why = str(e)
        else:
            stale = [name for name, want in (("epochs", epochs), ("batch_size", batch_size))
                     if want is not None and info.get(name) != want]
            if not stale:
                return DomainExtractor(model, info, ident, weights_path, from_cache=True).to(device).eval()
            why = f"the cached classifier was trained with other {' and '.join(stale)}"
    if not train_if_missing:
        raise CondganError(
            f"domain classifier for data set '{data_cfg.name}' (seed {seed}) at {weights_path}: {why}; "
            f"train it with `condgan classifier train {data_cfg.name}` (plus the same --set data.* options)"
        )
    if log:
        log(f"training the domain classifier for '{data_cfg.name}' (seed {seed}): {why}")
    model, info = train_domain_classifier(data_cfg, seed, epochs, batch_size, device, loader, threads, log)
    save_domain_classifier(model, info, weights_path, info_path)
    return DomainExtractor(model, info, ident, weights_path, from_cache=False).eval()


def _log_to_stderr(message: str) -> None:
    import sys

    print(f"condgan: {message}", file=sys.stderr, flush=True)


@EXTRACTORS.register("domain")
def _build_domain(data_cfg: DataConfig, seed: int = 0, device="cpu", cache_dir=None,
                  train_if_missing: bool = True, loader: Optional[Loader] = None,
                  threads: int = TRAIN_THREADS, log: Log = _log_to_stderr, **_unused):
    """Registry factory (see get_domain_extractor); options for other extractors are ignored.

    Logs to stderr by default: this is the path `condgan evaluate` (and evaluation during
    training) takes, and the first call trains the classifier for up to minutes, which without
    a line per epoch looks like a hang. A cached classifier loads silently."""
    return get_domain_extractor(data_cfg, seed, device, cache_dir, train_if_missing,
                                loader=loader, threads=threads, log=log)
