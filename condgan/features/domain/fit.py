"""Training the domain classifier: a small CNN fit on a data set's own labeled train split.

Why: Inception-V3 weights cannot be downloaded everywhere, and ImageNet features say little
about 28×28 digits anyway. docs/evaluation.md therefore asks for a second extractor route: a classifier
trained on the data set itself, whose 128-d penultimate layer gives the features (FID, KID,
precision/recall, ...) and whose softmax gives `C(x)` (IS, AM Score, conditional accuracy).
The embedded data sets ship pinned classifiers made with this recipe (`shipped.py`); other
data options get one trained on first use and cached (`cache.py`).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from condgan.data.base import ImageData
from condgan.errors import CondganError
from condgan.features.base import extract, resolve_device
from condgan.features.domain.net import NUM_FEATURES, WIDTH, DomainClassifier, DomainExtractor

# Bump whenever the architecture or the training recipe changes: it is part of the cache key,
# so old cached classifiers (and reference statistics keyed by the extractor id) are not reused.
DOMAIN_CLASSIFIER_VERSION = 1
# Default training length: about this many optimizer steps, but at least MIN_EPOCHS epochs
# (MNIST-5k: 9 epochs of batch 128; Fashion-MNIST: 3 epochs of batch 256).
TARGET_STEPS = 300
MIN_EPOCHS = 3
# CPU threads while training. These small convolutions gain little from intra-op threads, and on
# a busy machine threads spin against each other: MNIST-5k took 21 s with 1 thread and 140 s
# with 2 on a shared 2-core box. Pass threads=N (CLI --threads N) on an idle many-core machine.
TRAIN_THREADS = 1

Log = Optional[Callable[[str], None]]


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


def split_accuracy(model: DomainClassifier, test: ImageData) -> float:
    """`accuracy` of a trained classifier on a labeled split of its training image size."""
    _check_labeled_images(test, "test")
    view = DomainExtractor(model, {"image_size": list(test.sample_shape[1:])})
    logits = extract(view, test, 1024, keys=["logits"])["logits"]
    return accuracy(logits, test.labels, test.multi_label)


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
        test_accuracy = split_accuracy(model, test) if test is not None and len(test) > 0 else None
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
