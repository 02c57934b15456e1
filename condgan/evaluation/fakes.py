"""Images of an external generator for `condgan evaluate --fakes PATH`.

PATH is either

* a folder of images, read by the `folder` data source's own listing and decoding
  (`condgan.data.folder`): one sub-folder per class, named by the data set's class name or class
  index (labeled fakes), or a flat folder (unlabeled fakes); or
* an `.npz` file with `images` — (N, H, W), (N, H, W, C) or (N, C, H, W), C ∈ {1, 3} — and an
  optional `labels` — (N,) class indices, or (N, M) 0/1 attribute vectors for multi-label data.
  uint8 images are 0–255; float images are read as [0, 1], or as [−1, 1] when any value is
  negative, or as 0–255 when any value exceeds 1.

Everything is converted to the data set's layout (C, H, W) in [−1, 1] with the data layer's own
helpers: shorter side scaled to the data's size (bilinear, antialiased) and center-cropped, gray ↔
RGB by ITU-R 601 luma / repetition — the same conversions the real images went through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from condgan.data.common import convert_channels, resize_images, to_unit_range, warn_if_upscaled
from condgan.errors import CondganError


def load_fakes(path: str | Path, sample_shape: tuple[int, ...], class_names: list[str],
               multi_label: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images N×C×H×W in [−1, 1] of `sample_shape`, labels or None) from a folder or .npz."""
    p = Path(path).expanduser()
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise CondganError(f"--fakes: the data set's samples have shape {tuple(sample_shape)}; "
                           "external fakes can only be scored against square images")
    if p.is_dir():
        return _load_folder(p, sample_shape, class_names, multi_label)
    if p.is_file() and p.suffix.lower() == ".npz":
        return _load_npz(p, sample_shape, class_names, multi_label)
    if not p.exists():
        raise CondganError(f"--fakes '{p}' does not exist; pass a folder of images or an .npz file")
    raise CondganError(f"--fakes '{p}' is neither a folder of images nor an .npz file")


def class_index(name: str, class_names: list[str], where: str) -> int:
    """Index of a class given by its name, else by its integer index."""
    if name in class_names:
        return class_names.index(name)
    if name.strip().isdigit() and int(name) < len(class_names):
        return int(name)
    raise CondganError(f"{where}: '{name}' is neither a class name nor a class index of the data set "
                       f"(classes 0..{len(class_names) - 1}: {', '.join(class_names)})")


def _load_folder(p: Path, shape, class_names, multi_label):
    from condgan.data.folder import folder_channels, list_folder, load_images

    listing = list_folder(str(p))
    if listing.multi_label:
        raise CondganError(f"--fakes '{p}': a labels.csv folder is not supported for external fakes; "
                           "pass an .npz with images and (N, M) attribute labels instead")
    labels = None
    if listing.labels is not None:
        if multi_label or not class_names:
            raise CondganError(f"--fakes '{p}' has class sub-folders but the data set has "
                               f"{'attribute' if multi_label else 'no'} labels; use a flat folder")
        lut = torch.tensor([class_index(n, class_names, f"--fakes '{p}', class folder")
                            for n in listing.class_names])
        labels = lut[listing.labels]
    folder_channels(listing.files, shape[0], shape[1], f"--fakes '{p}'")  # warns about tiny images
    images = load_images(listing.files, shape[0], shape[1])
    return images, labels


def _layout(arr: np.ndarray, where: str) -> np.ndarray:
    """→ N×C×H×W."""
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4:
        last, first = arr.shape[3] in (1, 3), arr.shape[1] in (1, 3)
        if last and not first:
            return arr.transpose(0, 3, 1, 2)
        if first:
            return arr
    raise CondganError(f"{where}: 'images' has shape {arr.shape}; expected (N, H, W), (N, H, W, C) or "
                       "(N, C, H, W) with C = 1 (gray) or 3 (RGB)")


def _unit_range(arr: np.ndarray, where: str) -> torch.Tensor:
    if arr.dtype == np.uint8:
        return to_unit_range(arr)
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise CondganError(f"{where}: 'images' has dtype {arr.dtype}; expected uint8 or float")
    x = torch.from_numpy(np.asarray(arr, dtype=np.float32).copy())
    if x.numel() and not torch.isfinite(x).all():
        raise CondganError(f"{where}: 'images' contains NaN or infinite values")
    lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
    if lo < -1 - 1e-6 or hi > 255 + 1e-6 or (lo < 0 and hi > 1 + 1e-6):
        raise CondganError(f"{where}: image values span [{lo:g}, {hi:g}]; expected [0, 1], [-1, 1] or 0-255")
    if hi > 1 + 1e-6:
        return x.mul_(2 / 255).sub_(1)  # 0-255
    if lo < 0:
        return x.clamp_(-1, 1)  # [-1, 1]
    return x.mul_(2).sub_(1)  # [0, 1]


def _load_npz(p: Path, shape, class_names, multi_label):
    where = f"--fakes '{p}'"
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any read failure means an unusable file
        from condgan.integrity import unreadable_reason

        raise CondganError(f"{where} cannot be read as .npz: {unreadable_reason(e)}; write it with "
                           "numpy.savez(PATH, images=..., labels=...)") from None
    if "images" not in arrays:
        raise CondganError(f"{where} has no array 'images' (it has: {', '.join(arrays) or 'none'})")
    images = _unit_range(_layout(arrays["images"], where), where)
    if images.shape[0] == 0:
        raise CondganError(f"{where}: 'images' is empty")
    if images.shape[1] != shape[0]:
        images = convert_channels(images, shape[0])
    warn_if_upscaled([min(images.shape[-2:])] * images.shape[0], shape[1], where)
    images = resize_images(images, shape[1])
    labels = arrays.get("labels")
    if labels is None:
        return images, None
    if labels.shape[0] != images.shape[0]:
        raise CondganError(f"{where}: {labels.shape[0]} labels for {images.shape[0]} images")
    if multi_label:
        if labels.ndim != 2 or labels.shape[1] != len(class_names) or not np.isin(labels, (0, 1)).all():
            raise CondganError(f"{where}: the data set has {len(class_names)} attributes "
                               f"({', '.join(class_names)}); 'labels' must be (N, {len(class_names)}) 0/1 "
                               f"vectors, got shape {labels.shape}")
        return images, torch.from_numpy(labels.astype(np.float32))
    if not class_names:
        raise CondganError(f"{where} has 'labels' but the data set is unlabeled; drop them")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise CondganError(f"{where}: 'labels' must be (N,) integer class indices, got {labels.dtype} {labels.shape}")
    bad = labels[(labels < 0) | (labels >= len(class_names))]
    if bad.size:
        raise CondganError(f"{where}: label {int(bad[0])} is out of range for {len(class_names)} classes")
    return images, torch.from_numpy(labels.astype(np.int64))
