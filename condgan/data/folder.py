"""`folder`: the user's own images under data.root (docs/methods.md §8), in one of three layouts:

* one sub-folder per class (labeled; class_names = the sorted folder names, images found
  recursively inside each),
* a flat folder of images (unlabeled: labels None),
* a flat folder plus `labels.csv` (the CelebA layout): a header "file name column, then one
  0/1 column per attribute", one row per image → multi-hot labels named by the header. Only the
  images listed in the CSV are used.

Any format PIL reads. Channels: data.channels if set, else 1 when every image is grayscale and 3
otherwise (mixed folders become RGB). Each image's shorter side is scaled to data.image_size
(bilinear, antialiased) and the longer one center-cropped. There is no official test split: a
stratified hold-out of data.test_fraction is cut from the file list before any pixel is decoded.

Small folders are decoded into memory (one tensor). For training, a folder whose decoded images
would not fit (`data.stream`, see `streams`) is returned as `FileImages` instead — the file list,
decoded batch by batch in DataLoader workers (`condgan.data.stream`) with the same decoding, so
both paths give the same pixels.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import holdout_indices, source_info, to_unit_range, warn_if_upscaled
from condgan.errors import CondganError

LABELS_CSV = "labels.csv"
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


@dataclass
class Listing:
    """The folder's images and labels, known before any pixel is decoded."""

    files: list[Path]
    labels: Optional[torch.Tensor]
    class_names: list[str]
    multi_label: bool = False


def _image_extensions() -> set[str]:
    Image.init()  # registers every plugin, so registered_extensions() is complete
    return {ext.lower() for ext in Image.registered_extensions()}


def _images_in(directory: Path, recursive: bool) -> list[Path]:
    """Image files (by extension PIL knows) in `directory`, sorted, hidden files skipped."""
    exts = _image_extensions()
    walk = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in walk if p.is_file() and p.suffix.lower() in exts
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def _list_csv(root: Path, csv_path: Path) -> Listing:
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        raise CondganError(f"{csv_path}: the header must be a file-name column followed by at "
                           "least one attribute column")
    names = [c.strip() for c in rows[0][1:]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates or "" in names:
        raise CondganError(f"{csv_path}: attribute names must be unique and non-empty, got {names}")
    files, values, seen = [], [], set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line, e.g. a trailing newline
        if len(row) != len(names) + 1:
            raise CondganError(f"{csv_path} line {line}: expected {len(names) + 1} columns "
                               f"(file name + {len(names)} attributes), got {len(row)}")
        name = row[0].strip()
        path = root / name
        if not path.is_file():
            raise CondganError(f"{csv_path} line {line}: image file '{path}' does not exist")
        if name in seen:
            raise CondganError(f"{csv_path} line {line}: '{name}' is listed twice")
        seen.add(name)
        bits = []
        for attr, cell in zip(names, row[1:]):
            if cell.strip() not in ("0", "1"):
                raise CondganError(f"{csv_path} line {line}, column '{attr}': value '{cell.strip()}' "
                                   "is not 0 or 1 (map CelebA's -1 to 0)")
            bits.append(cell.strip() == "1")
        files.append(path)
        values.append(bits)
    if not files:
        raise CondganError(f"{csv_path} lists no images")
    return Listing(files, torch.tensor(values, dtype=torch.float32), names, multi_label=True)


def list_folder(root: Optional[str]) -> Listing:
    """Work out the layout of data.root and list its images and labels."""
    if not root:
        raise CondganError("data set 'folder' needs data.root: the directory of images")
    directory = Path(root).expanduser()
    if not directory.is_dir():
        raise CondganError(f"data.root '{directory}' does not exist or is not a directory")
    if (directory / LABELS_CSV).is_file():
        return _list_csv(directory, directory / LABELS_CSV)
    top = _images_in(directory, recursive=False)
    class_dirs = sorted(d for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        if not top:
            raise CondganError(f"no images found in data.root '{directory}' (looked for files "
                               "PIL can read, e.g. .png, .jpg)")
        return Listing(top, None, [])
    if top:
        raise CondganError(f"data.root '{directory}' mixes images ({top[0].name}, ...) with "
                           "class sub-folders; put every image in a class folder, or remove the "
                           "sub-folders for unlabeled data")
    files, labels = [], []
    for k, class_dir in enumerate(class_dirs):
        found = _images_in(class_dir, recursive=True)
        if not found:
            raise CondganError(f"class folder '{class_dir}' has no images; remove it or add images")
        files += found
        labels += [k] * len(found)
    return Listing(files, torch.tensor(labels, dtype=torch.int64), [d.name for d in class_dirs])


def _header(path: Path) -> tuple[str, int]:
    """(PIL mode, shorter side) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as im:  # lazy: reads the header only
            return im.mode, min(im.size)
    except Exception as e:  # any decoder failure means the file is unusable
        raise CondganError(f"image file '{path}' cannot be read ({type(e).__name__}: {e})") from None


def folder_channels(files: list[Path], channels: Optional[int], size: int, where: str) -> int:
    """data.channels, else 1 when every image is grayscale and 3 otherwise; warns once when
    images are much smaller than `size` (see warn_if_upscaled). Reads headers only."""
    headers = [_header(p) for p in files]
    warn_if_upscaled([side for _, side in headers], size, where)
    return channels or (1 if all(mode in GRAY_MODES for mode, _ in headers) else 3)


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit gray → 8-bit 'L' by scaling: PIL's own convert('L') clips at 255, which would
    turn a 16-bit PNG white. Mode 'I' (older Pillow's 16-bit PNGs) is scaled only if it
    actually holds values above 255."""
    if im.mode.startswith("I;16") or im.mode == "I":
        values = np.asarray(im, dtype=np.int64)
        if im.mode != "I" or values.max() > 255:
            values = values * 255 // 65535
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    return im


def _load_image(path: Path, mode: str, size: int) -> np.ndarray:
    """One image → uint8 H×W×C of size×size: shorter side scaled to `size`, center crop."""
    try:
        with Image.open(path) as im:
            im = _to_8bit(im).convert(mode)  # decodes; drops alpha
            w, h = im.size
            scale = size / min(w, h)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            if (new_w, new_h) != (w, h):
                # PIL widens the bilinear kernel when downscaling, i.e. it antialiases.
                im = im.resize((new_w, new_h), Image.Resampling.BILINEAR)
            left, top = (new_w - size) // 2, (new_h - size) // 2
            im = im.crop((left, top, left + size, top + size))
            pixels = np.asarray(im, dtype=np.uint8)
    except Exception as e:
        raise CondganError(f"image file '{path}' cannot be read ({type(e).__name__}: {e})") from None
    return pixels.reshape(size, size, -1)


def decode_image(path: Path, channels: int, size: int) -> torch.Tensor:
    """One file → channels×size×size float32 in [-1, 1] (what `load_images` gives per image)."""
    pixels = _load_image(path, "L" if channels == 1 else "RGB", size)
    return to_unit_range(pixels).permute(2, 0, 1).contiguous()


class FileImages:
    """The N images of a file list, decoded on demand: stands for the N×C×S×S tensor of
    `load_images` (shape, len, indexing by an index tensor gives a subset) without holding it."""

    def __init__(self, files: list[Path], channels: int, size: int):
        self.files, self.channels, self.size = list(files), channels, size

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.files), self.channels, self.size, self.size))

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx) -> "FileImages":
        rows = torch.as_tensor(idx).reshape(-1).tolist() if not isinstance(idx, slice) else range(len(self.files))[idx]
        return FileImages([self.files[i] for i in rows], self.channels, self.size)

    def decode(self, i: int) -> torch.Tensor:
        return decode_image(self.files[i], self.channels, self.size)

    def decoded_bytes(self) -> int:
        """Size of the decoded float32 tensor this stands for."""
        return len(self.files) * self.channels * self.size * self.size * 4


def streams(cfg: DataConfig, decoded_bytes: int) -> bool:
    """data.stream: true / false, or auto: stream when the decoded images exceed
    data.stream_threshold_mb MiB."""
    if cfg.stream == "auto":
        return decoded_bytes > cfg.stream_threshold_mb * 2**20
    return cfg.stream == "true"


def load_images(files: list[Path], channels: int, size: int) -> torch.Tensor:
    """N×channels×size×size float32 in [-1, 1]. A thread pool overlaps file I/O and decoding
    (PIL releases the GIL while decoding). The first unreadable file is an error."""
    images, failures = load_images_skipping(files, channels, size)
    if failures:
        raise CondganError(failures[0][1])
    return images


def load_images_skipping(files: list[Path], channels: int, size: int
                         ) -> tuple[torch.Tensor, list[tuple[int, str]]]:
    """Like `load_images`, but an unreadable file is skipped: (images of the readable files in
    order, [(index in `files`, reason) of the others])."""
    mode = "L" if channels == 1 else "RGB"

    def decode(p):
        try:
            return _load_image(p, mode, size)
        except CondganError as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, files))
    arrays = [r for r in results if not isinstance(r, str)]
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, str)]
    stacked = np.stack(arrays) if arrays else np.zeros((0, size, size, channels), np.uint8)
    return to_unit_range(stacked).permute(0, 3, 1, 2).contiguous(), failures


@DATASETS.register("folder")
@source_info(needs_root=True, reads_root=True)
def load_folder(cfg: DataConfig, split: str) -> ImageData:
    listing = list_folder(cfg.root)
    # Decided over the whole folder so that train and test get the same number of channels.
    channels = folder_channels(listing.files, cfg.channels, cfg.image_size, f"data.root '{cfg.root}'")
    idx = holdout_indices(listing.labels, len(listing.files), split, cfg.test_fraction, cfg.split_seed)
    images = FileImages([listing.files[i] for i in idx.tolist()], channels, cfg.image_size)
    if not streams(cfg, images.decoded_bytes()):
        images = load_images(images.files, channels, cfg.image_size)
    labels = listing.labels[idx] if listing.labels is not None else None
    return ImageData(images, labels, listing.class_names, listing.multi_label)
