"""`load_dataset`: a source's raw split plus the common DataConfig options, and the cheap
up-front check of those options (docs/methods.md §8).

Order of the options (each sees the previous one's output):
  1. `classes`          keep these source classes, relabeled 0..k-1 in the given order;
  2. `class_fractions`  keep that fraction of each kept class (deterministic by split_seed);
     `train_images`     (train split only) keep about this many, the same fraction of each class;
  3. `attributes`       replace class labels by multi-hot derived attributes;
  4. `channels`         1 ↔ 3 channel conversion;
  5. `image_size`       bilinear antialiased resize (shorter side + center crop).
Sources without an official test split cut their stratified hold-out themselves, on the raw
data, so the test set of a given split_seed does not depend on the options above.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import (SourceInfo, check_split, convert_channels, info_of,
                                 resize_images, stratified_indices, subset)
from condgan.errors import CondganError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 1024


def _bad(key: str, message: str) -> CondganError:
    return CondganError(f"config key 'data.{key}': {message}")


def _source(cfg: DataConfig) -> tuple[Callable, SourceInfo]:
    try:
        source = DATASETS.get(cfg.name)
    except CondganError as e:
        raise _bad("name", str(e)) from None
    return source, info_of(source)


# --------------------------------------------------------------------------- cheap validation
def validate_data_config(cfg: DataConfig) -> None:
    """Check the data options without loading anything: the source name, value ranges, list
    shapes, and — where the source declares them — class indices and attribute names."""
    _, info = _source(cfg)
    name = cfg.name
    if info.needs_root and not cfg.root:
        raise _bad("root", f"data set '{name}' needs data.root (the directory of your images)")
    if cfg.root and not info.reads_root:
        raise _bad("root", f"data set '{name}' reads no files from data.root (it is built in), so "
                           f"data.root={cfg.root} would be ignored; remove it, or use data.name=folder for "
                           "your own images")
    if cfg.download and info.needs_root:
        raise _bad("download", f"data set '{name}' reads your own files and has nothing to download")
    # Options a source ignores are not checked: a preset may set them for another source.
    if not info.vector and not MIN_IMAGE_SIZE <= cfg.image_size <= MAX_IMAGE_SIZE:
        raise _bad("image_size", f"must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}, got {cfg.image_size}")
    if cfg.channels is not None:
        if cfg.channels not in (1, 3):
            raise _bad("channels", f"must be 1 (gray), 3 (RGB) or null, got {cfg.channels}")
        if info.vector:
            raise _bad("channels", f"data set '{name}' is vector data, not images; leave it null")
    if not info.official_test and not 0 < cfg.test_fraction < 1:
        raise _bad("test_fraction", f"must be in (0, 1), got {cfg.test_fraction}")
    if info.vector and cfg.num_samples < 1:
        raise _bad("num_samples", f"must be ≥ 1, got {cfg.num_samples}")
    _check_classes(cfg, info)
    _check_fractions(cfg, info)
    if cfg.train_images is not None and cfg.train_images < 1:
        raise _bad("train_images", f"must be ≥ 1 (or null for all), got {cfg.train_images}")
    if cfg.attributes is not None:
        _check_attribute_names(cfg.attributes, info.attributes if info.num_classes is not None else None, name)


def _check_classes(cfg: DataConfig, info: SourceInfo, num_classes: Optional[int] = None) -> None:
    classes = cfg.classes
    if classes is None:
        return
    num_classes = num_classes if num_classes is not None else info.num_classes
    if not classes:
        raise _bad("classes", "must list at least one class index (or be null for all)")
    _reject_duplicates("classes", classes, "class {}")
    for c in classes:
        if c < 0 or (num_classes is not None and c >= num_classes):
            known = f" ({num_classes} classes: 0..{num_classes - 1})" if num_classes is not None else ""
            raise _bad("classes", f"class {c} out of range for {cfg.name}{known}")


def _reject_duplicates(key: str, values: list, what: str) -> None:
    """CondganError naming the first value listed twice under data.<key>."""
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise _bad(key, f"{what.format(duplicates[0])} is listed twice")


def _check_fractions(cfg: DataConfig, info: SourceInfo, num_classes: Optional[int] = None) -> None:
    fractions = cfg.class_fractions
    if fractions is None:
        return
    for f in fractions:
        if not 0 < f <= 1:
            raise _bad("class_fractions", f"every fraction must be in (0, 1], got {f}")
    num_classes = num_classes if num_classes is not None else info.num_classes
    kept = len(cfg.classes) if cfg.classes else num_classes
    if kept is not None and len(fractions) != kept:
        what = "data.classes" if cfg.classes else f"data set '{cfg.name}'"
        raise _bad("class_fractions", f"has {len(fractions)} entries but {what} has {kept} classes; "
                   "give one fraction per kept class")


def _check_attribute_names(names: list[str], available, source: str) -> None:
    """available: the names the data offers, or None when only loading tells."""
    if not names:
        raise _bad("attributes", "must list at least one attribute (or be null for class labels)")
    _reject_duplicates("attributes", names, "attribute '{}'")
    if available is None:
        return
    for a in names:
        if a not in available:
            offer = ", ".join(available) if available else "none"
            raise _bad("attributes", f"unknown attribute '{a}' for data set '{source}'; available: {offer}")


# --------------------------------------------------------------------------- the options
def _select_classes(data: ImageData, classes: list[int]) -> ImageData:
    lut = torch.full((data.num_classes,), -1, dtype=torch.int64)
    lut[torch.tensor(classes)] = torch.arange(len(classes))
    new = lut[data.labels]
    idx = torch.nonzero(new >= 0).flatten()
    return ImageData(data.images[idx], new[idx], [data.class_names[c] for c in classes], False)


def _derive_attributes(data: ImageData, names: list[str], functions, source_class: list[int],
                       source: str) -> ImageData:
    if data.multi_label:  # e.g. a labels.csv folder: choose columns by name
        _check_attribute_names(names, data.class_names, source)
        cols = torch.tensor([data.class_names.index(a) for a in names])
        return ImageData(data.images, data.labels[:, cols], list(names), True)
    _check_attribute_names(names, list(functions), source)
    # One row per (kept) class, evaluated on the *source* class index, then looked up per sample.
    table = torch.tensor([[bool(functions[a](c)) for a in names] for c in source_class], dtype=torch.float32)
    return ImageData(data.images, table[data.labels], list(names), True)


def _needs_single_label(data: ImageData, key: str, source: str) -> None:
    if data.labels is None or data.multi_label:
        kind = "unlabeled" if data.labels is None else "multi-hot (attribute) labels"
        raise _bad(key, f"needs class labels, but data set '{source}' has {kind}")


def load_dataset(cfg: DataConfig, split: str = "train", allow_stream: bool = False) -> ImageData:
    """The `split` ('train' or 'test') of data set `cfg.name` with the common options applied.

    `allow_stream` (the trainer): a source may return images that are decoded on demand
    (`FileImages`, see data.stream) instead of a tensor; everyone else gets a tensor."""
    source, info = _source(cfg)
    validate_data_config(cfg)
    if not allow_stream:
        cfg = dataclasses.replace(cfg, stream="false")
    check_split(split)
    data = source(cfg, split)
    source_class = list(range(data.num_classes))
    if cfg.classes is not None:
        _needs_single_label(data, "classes", cfg.name)
        _check_classes(cfg, info, data.num_classes)  # the folder's K is known only now
        data = _select_classes(data, cfg.classes)
        source_class = list(cfg.classes)
    if cfg.class_fractions is not None:
        _needs_single_label(data, "class_fractions", cfg.name)
        _check_fractions(cfg, info, data.num_classes)
        # seed + 1: a different random stream from the one the hold-out split used.
        keep, _ = stratified_indices(data.labels, len(data), cfg.class_fractions, cfg.split_seed + 1,
                                     min_one=True)
        data = subset(data, keep)
    if split == "train" and cfg.train_images is not None and cfg.train_images < len(data):
        # Limited-data runs: fewer training images, the same class balance, the full test split.
        # seed + 2: a stream of its own; each class keeps round(n_c · N / n) (at least one).
        fraction = [cfg.train_images / len(data)]
        keep, _ = stratified_indices(data.labels if data.labels is not None and not data.multi_label else None,
                                     len(data), fraction, cfg.split_seed + 2, min_one=True)
        data = subset(data, keep)
    if cfg.attributes is not None:
        if data.labels is None:
            raise _bad("attributes", f"data set '{cfg.name}' is unlabeled; attributes are derived from labels")
        data = _derive_attributes(data, cfg.attributes, info.attributes, source_class, cfg.name)
    if data.is_image and isinstance(data.images, torch.Tensor):  # FileImages decode at size already
        if cfg.channels is not None:
            data.images = convert_channels(data.images, cfg.channels)
        data.images = resize_images(data.images, cfg.image_size)
    if len(data) == 0:
        raise CondganError(f"data set '{cfg.name}': the {split} split is empty with these data options")
    return data
