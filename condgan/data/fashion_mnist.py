"""`fashion-mnist`: Zalando's 60k/10k 28×28 clothing images in the IDX format (docs/methods.md §8).

Files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte, each gzipped (`.gz`) or not, searched in data.root, else
$CONDGAN_DATA/fashion-mnist, /usr/share/datasets/fashion-mnist (Debian package
`dataset-fashion-mnist`) and ~/.cache/condgan/data/fashion-mnist. `data.download=true` fetches
missing files from the official mirror, verifying the MD5 sums published in the
zalandoresearch/fashion-mnist README. Local files are not checksummed: Debian recompresses the
.gz files (different bytes, same content), so the IDX headers and sizes are validated instead.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import candidate_dirs, check_split, download_dir, source_info, to_unit_range
from condgan.data.download import download_url
from condgan.errors import CondganError

NAME = "fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# MD5 of the official .gz files, from the table in github.com/zalandoresearch/fashion-mnist README.
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
ALL_FILES = FILES["train"] + FILES["test"]
# IDX magic: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
IDX_UBYTE = 0x08


def _find(directory: Path, stem: str) -> Optional[Path]:
    """`stem.gz` or `stem` in `directory` (gzipped first: that is how they are distributed)."""
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX array with `ndim` dimensions; validates the magic number and that
    the payload size matches the header."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise CondganError(f"IDX file {path} cannot be read ({type(e).__name__}: {e})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CondganError(f"IDX file {path} is truncated ({len(raw)} bytes, header needs {header})")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != IDX_UBYTE or dims != ndim:
        raise CondganError(f"IDX file {path}: bad magic number 0x{raw[:4].hex()} (expected "
                           f"0x0000{IDX_UBYTE:02x}{ndim:02x}, unsigned bytes with {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise CondganError(f"IDX file {path}: header says {'×'.join(map(str, shape))} = {expected} "
                           f"bytes of data, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _locate(cfg: DataConfig) -> Path:
    """The first candidate directory holding all four files, downloading them when allowed."""
    tried = []
    for directory in candidate_dirs(cfg.root, NAME):
        if not directory.is_dir():
            tried.append(f"{directory} (does not exist)")
            continue
        missing = [stem for stem in ALL_FILES if _find(directory, stem) is None]
        if not missing:
            return directory
        tried.append(f"{directory} (missing {', '.join(s + '[.gz]' for s in missing)})")
    if cfg.download:
        target = download_dir(cfg.root, NAME)
        for stem in ALL_FILES:
            if _find(target, stem) is None:
                download_url(URL + stem + ".gz", target / (stem + ".gz"), md5=MD5[stem + ".gz"])
        return target
    raise CondganError(
        f"data set '{NAME}': IDX files not found; tried {'; '.join(tried)}. Install them with "
        "`apt-get install dataset-fashion-mnist`, or set data.root (or $CONDGAN_DATA) to a "
        "directory holding the four IDX files, or set data.download=true")


@DATASETS.register("fashion-mnist")
@source_info(num_classes=10, official_test=True, downloadable=True, reads_root=True)
def load_fashion_mnist(cfg: DataConfig, split: str) -> ImageData:
    check_split(split)
    directory = _locate(cfg)
    image_path, label_path = (_find(directory, stem) for stem in FILES[split])
    pixels = read_idx(image_path, 3)
    labels = read_idx(label_path, 1)
    if len(pixels) != len(labels):
        raise CondganError(f"{image_path} has {len(pixels)} images but {label_path} has "
                           f"{len(labels)} labels")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise CondganError(f"{label_path}: label {labels.max()} out of range 0..{len(CLASS_NAMES) - 1}")
    images = to_unit_range(pixels).unsqueeze(1)
    return ImageData(images, torch.from_numpy(labels.astype(np.int64)), list(CLASS_NAMES))
