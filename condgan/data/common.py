"""Helpers shared by the data sources (docs/methods.md §8): source metadata, pixel conversion, resizing,
channel conversion, the deterministic stratified hold-out split and where data files live.

Each source module only knows how to read its own format; everything two sources would otherwise
duplicate lives here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from condgan.data.base import ImageData
from condgan.errors import CondganError

SPLITS = ("train", "test")
# Debian's `dataset-*` packages install data sets here (docs/methods.md §8).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DATA_ENV = "CONDGAN_DATA"


# --------------------------------------------------------------------------- source metadata
@dataclass(frozen=True)
class SourceInfo:
    """What `validate_data_config` may know about a source without loading it.

    num_classes: K of single-label data, or None when only the files tell (folder).
    attributes: derived binary attributes, name → predicate on the *source* class index.
    vector: N×D data (synthetic) instead of N×C×H×W images.
    official_test: the source has its own test split; otherwise a stratified hold-out of
        `data.test_fraction` is cut (see `holdout_indices`).
    downloadable: `data.download=true` can fetch missing files.
    needs_root: data.root must be set (the user's own files).
    reads_root: data.root, when set, is where the files are looked for (sources that read no
        files ignore it, so setting it for them is an error rather than a silent no-op).
    """

    num_classes: Optional[int] = None
    attributes: Mapping[str, Callable[[int], bool]] = field(default_factory=dict)
    vector: bool = False
    official_test: bool = False
    downloadable: bool = False
    needs_root: bool = False
    reads_root: bool = False


def source_info(**kwargs) -> Callable:
    """Decorator attaching a `SourceInfo` to a source function (put it *below* the
    `@DATASETS.register` line so the registered object carries it)."""
    info = SourceInfo(**kwargs)

    def deco(fn):
        fn.source_info = info
        return fn

    return deco


def info_of(source: Callable) -> SourceInfo:
    return getattr(source, "source_info", SourceInfo())


# Attributes of digit data sets (mnist5k, digits): a digit's class index is the digit itself.
DIGIT_ATTRIBUTES: dict[str, Callable[[int], bool]] = {
    "even": lambda d: d % 2 == 0,
    "odd": lambda d: d % 2 == 1,
    "ge5": lambda d: d >= 5,
    "lt5": lambda d: d < 5,
}
DIGIT_NAMES = [str(d) for d in range(10)]


# --------------------------------------------------------------------------- conversions
def check_split(split: str) -> None:
    if split not in SPLITS:
        raise CondganError(f"unknown data split '{split}'; choose one of: {', '.join(SPLITS)}")


def to_unit_range(pixels, max_value: float = 255.0) -> torch.Tensor:
    """Integer-valued pixels in [0, max_value] (any array / tensor) → float32 in [-1, 1]."""
    # np.array copies: the caller's buffer (possibly read-only, e.g. np.frombuffer) is untouched.
    x = torch.from_numpy(np.array(pixels, dtype=np.float32))
    return x.mul_(2.0 / max_value).sub_(1.0)


UPSCALE_WARNING_FACTOR = 2


def warn_if_upscaled(sides: list[int], size: int, where: str) -> None:
    """One warning when images whose shorter side is below size / UPSCALE_WARNING_FACTOR are
    scaled up to `size`: they carry far less detail than the size suggests (a folder of 1×1
    images becomes flat 16×16 squares), which is rarely what was meant."""
    small = [s for s in sides if s * UPSCALE_WARNING_FACTOR < size]
    if small:
        from condgan.console import warn

        warn(f"{where}: {len(small)} of {len(sides)} images have a shorter side below {size / UPSCALE_WARNING_FACTOR:g} px "
             f"(smallest {min(small)} px) and are upscaled to {size} px (up to {size / min(small):.0f}×), which adds "
             f"no detail; set data.image_size nearer their size or use larger images")


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """N×C×H×W with C in {1, 3} → N×`channels`×H×W. RGB → gray uses ITU-R 601 luma weights
    (the ones PIL's convert('L') uses), so tensor and folder sources agree."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True)
    raise CondganError(f"data.channels={channels}: cannot convert {have}-channel images")


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """N×C×H×W → N×C×size×size: scale the shorter side to `size` (bilinear, antialiased so
    downscaling does not alias) and center-crop the longer one. Works in chunks so the peak
    memory is one output tensor plus a chunk, not two full copies."""
    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = torch.empty(n, c, size, size, dtype=images.dtype)
    for start in range(0, n, chunk):
        part = F.interpolate(images[start:start + chunk], size=(new_h, new_w), mode="bilinear",
                             align_corners=False, antialias=True)
        out[start:start + chunk] = part[:, :, top:top + size, left:left + size]
    # Bilinear weights are convex, so this only removes float rounding beyond ±1.
    return out.clamp_(-1.0, 1.0)


# --------------------------------------------------------------------------- splitting
def stratified_indices(groups: Optional[torch.Tensor], n: int, fractions: list[float],
                       seed: int, min_one: bool = False) -> list[torch.Tensor]:
    """Deterministic per-group random subsets.

    groups: int64 (n,) group ids (or None: one group). For each group g (in increasing order) a
    permutation from a generator seeded with `seed` picks round(fractions[g] · n_g) members
    (with `min_one`, at least one, so that a small fraction never silently drops a class).
    `fractions` has one entry per group id, or a single entry used for every group. Returns
    [kept, rest], each sorted, so callers can split or subsample with the same code.
    """
    g = torch.Generator().manual_seed(seed)
    if groups is None:
        groups = torch.zeros(n, dtype=torch.int64)
    kept, rest = [], []
    num_groups = int(groups.max()) + 1 if n else 0
    for k in range(num_groups):
        members = torch.nonzero(groups == k).flatten()
        if len(members) == 0:
            continue
        frac = fractions[k] if len(fractions) > 1 else fractions[0]
        take = round(frac * len(members))
        if min_one and frac > 0:
            take = max(1, take)
        perm = members[torch.randperm(len(members), generator=g)]
        kept.append(perm[:take])
        rest.append(perm[take:])
    cat = lambda parts: torch.sort(torch.cat(parts))[0] if parts else torch.empty(0, dtype=torch.int64)
    return [cat(kept), cat(rest)]


def holdout_indices(labels: Optional[torch.Tensor], n: int, split: str, test_fraction: float,
                    seed: int) -> torch.Tensor:
    """Indices of `split` for a source without an official test split: a stratified (per
    class) random hold-out of `test_fraction`, deterministic by `seed` (= data.split_seed).
    Multi-hot or missing labels are split without stratification."""
    check_split(split)
    groups = labels if labels is not None and labels.dim() == 1 else None
    test, train = stratified_indices(groups, n, [test_fraction], seed)
    return train if split == "train" else test


def holdout(data: ImageData, split: str, test_fraction: float, seed: int) -> ImageData:
    """`holdout_indices` applied to an in-memory ImageData."""
    idx = holdout_indices(data.labels, len(data), split, test_fraction, seed)
    return subset(data, idx)


def subset(data: ImageData, idx: torch.Tensor) -> ImageData:
    return ImageData(data.images[idx], data.labels[idx] if data.labels is not None else None,
                     list(data.class_names), data.multi_label)


# --------------------------------------------------------------------------- file locations
def data_home() -> Path:
    """Where downloads go when data.root is unset: $CONDGAN_DATA, else ~/.cache/condgan/data."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "condgan" / "data"


def candidate_dirs(root: Optional[str], name: str) -> list[Path]:
    """Directories a file source searches, in order: data.root alone when it is set (an explicit
    choice is never second-guessed), else $CONDGAN_DATA/<name>, /usr/share/datasets/<name> and
    the download cache ~/.cache/condgan/data/<name>."""
    if root:
        return [Path(root).expanduser()]
    out = []
    if os.environ.get(DATA_ENV):
        out.append(Path(os.environ[DATA_ENV]).expanduser() / name)
    out.append(SYSTEM_DATA_DIR / name)
    default = Path.home() / ".cache" / "condgan" / "data" / name
    if default not in out:
        out.append(default)
    return out


def download_dir(root: Optional[str], name: str) -> Path:
    """Where `data.download=true` writes a source's files: data.root, else data_home()/<name>."""
    return Path(root).expanduser() if root else data_home() / name
