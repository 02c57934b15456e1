"""The feature-extractor interface, its registry, and batched extraction.

Every evaluation metric (FID, KID, IS, AM Score, precision/recall, conditional accuracy, ...)
reads images through a *feature extractor* so that the metric code never knows whether the
features come from Inception-V3 or from the data set's own domain classifier (docs/evaluation.md).

An extractor is an `nn.Module` whose `forward(images)` takes images in [-1, 1] (N×C×H×W, any
size and 1 or 3 channels: the extractor adapts them) and returns a dict of named outputs:

    {"features": (N, F) float32, "logits": (N, K) float32, ...}

and which carries three attributes:

    id            stable identifier including a version; metrics use it as the cache key of
                  reference statistics, so it must change whenever the features would change
    num_features  F
    num_classes   K

Extractors are built by factories registered in `EXTRACTORS` under a config name
(`eval.extractor`). A factory is called as `factory(data_cfg, seed=0, device="cpu", **options)`;
`seed` is the extractor's own seed (not the GAN's), so runs with different training seeds are
scored by the same extractor; options a factory has no use for are ignored, so callers can pass
one set of options (e.g. `cache_dir`) whatever the extractor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from condgan.data.base import ImageData
from condgan.device import resolve_device  # noqa: F401  (re-exported)
from condgan.errors import CondganError
from condgan.registry import Registry

# name → factory(data_cfg, seed=0, device="cpu", **options) -> extractor module
EXTRACTORS: Registry[Callable[..., nn.Module]] = Registry("feature extractor")

ImageSource = Union[torch.Tensor, ImageData, Iterable]


def build_extractor(name: str, data_cfg, seed: int = 0, device: str | torch.device = "cpu", **options) -> nn.Module:
    """Look up `name` in `EXTRACTORS` and build the extractor for the data set `data_cfg`."""
    return EXTRACTORS.get(name)(data_cfg, seed=seed, device=device, **options)


def cache_root(cache_dir: Optional[str | os.PathLike] = None) -> Path:
    """Directory for cached extractor files: `cache_dir`, else $CONDGAN_CACHE, else ~/.cache/condgan.
    A path that exists but is not a directory is an error here, before any work whose result
    could not be cached (training a classifier) starts."""
    where = "--cache-dir" if cache_dir is not None else "$CONDGAN_CACHE" if os.environ.get("CONDGAN_CACHE") else "cache"
    if cache_dir is None:
        cache_dir = os.environ.get("CONDGAN_CACHE") or Path.home() / ".cache" / "condgan"
    path = Path(cache_dir).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise CondganError(f"{where} '{path}': '{existing}' is a file, not a directory; point it at a "
                           "directory (it is created if missing)")
    return path


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (cpu for parameter-free modules)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _batches(source: ImageSource, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield image tensors of at most `batch_size` rows from a tensor, an ImageData, or an
    iterable of tensors / (images, labels) tuples (e.g. a generator that samples fakes).

    Large batches coming from an iterable are re-split, so peak memory is bounded by
    `batch_size` no matter what the caller feeds in.
    """
    if isinstance(source, ImageData):
        source = source.images
    chunks = [source] if isinstance(source, torch.Tensor) else source
    for chunk in chunks:
        if isinstance(chunk, (tuple, list)):
            chunk = chunk[0]
        if isinstance(chunk, ImageData):
            chunk = chunk.images
        if not isinstance(chunk, torch.Tensor) or chunk.dim() != 4:
            shape = tuple(chunk.shape) if isinstance(chunk, torch.Tensor) else type(chunk).__name__
            raise CondganError(f"feature extraction expects N×C×H×W image tensors, got {shape}")
        for start in range(0, chunk.shape[0], batch_size):
            yield chunk[start:start + batch_size]


def iter_extract(
    extractor: nn.Module,
    source: ImageSource,
    batch_size: int = 256,
    keys: Optional[Sequence[str]] = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Run `extractor` batch by batch; yield each batch's outputs (float32, on the CPU).

    Runs in eval mode under `torch.inference_mode` and restores the module's previous
    train/eval mode afterwards. `keys` keeps only those outputs (saves memory, e.g. FID needs
    only "features"). Use this for streaming statistics over many images.
    """
    if batch_size < 1:
        raise CondganError(f"batch_size must be >= 1, got {batch_size}")
    device = module_device(extractor)
    was_training = extractor.training
    extractor.eval()
    try:
        for images in _batches(source, batch_size):
            with torch.inference_mode():
                out = extractor(images.to(device, torch.float32, non_blocking=True))
            if keys is not None:
                missing = [k for k in keys if k not in out]
                if missing:
                    raise CondganError(
                        f"extractor '{getattr(extractor, 'id', type(extractor).__name__)}' has no output "
                        f"{missing}; it provides {sorted(out)}"
                    )
                out = {k: out[k] for k in keys}
            yield {k: v.detach().float().cpu() for k, v in out.items()}
    finally:
        extractor.train(was_training)


def extract(
    extractor: nn.Module,
    source: ImageSource,
    batch_size: int = 256,
    keys: Optional[Sequence[str]] = None,
) -> dict[str, torch.Tensor]:
    """All outputs of `extractor` on `source`, concatenated over batches (see `iter_extract`).

    Only the (small) outputs are accumulated, never the images, so memory stays bounded by one
    batch of images plus N×(F+K) floats.
    """
    parts: dict[str, list[torch.Tensor]] = {}
    for out in iter_extract(extractor, source, batch_size, keys):
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    if not parts:  # empty input: empty outputs of the right width
        sizes = {"features": getattr(extractor, "num_features", 0), "logits": getattr(extractor, "num_classes", 0)}
        return {k: torch.zeros(0, sizes[k]) for k in (keys or sizes) if k in sizes}
    return {k: torch.cat(v) for k, v in parts.items()}


def adapt_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Make gray↔RGB images fit a network: 1→3 repeats the channel, 3→1 averages them."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1:
        return images.expand(-1, channels, -1, -1)
    if channels == 1 and c == 3:
        return images.mean(1, keepdim=True)
    raise CondganError(f"cannot feed {c}-channel images to an extractor built for {channels} channels")
