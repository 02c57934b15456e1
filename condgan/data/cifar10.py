"""`cifar10`: CIFAR-10 in its python-pickle directory format (docs/methods.md §8): `data_batch_1..5`,
`test_batch`, `batches.meta` in a `cifar-10-batches-py` directory.

Searched in data.root (the directory itself or its `cifar-10-batches-py` sub-folder), else
$CONDGAN_DATA/cifar-10-batches-py, /usr/share/datasets/cifar-10-batches-py and
~/.cache/condgan/data/cifar-10-batches-py. `data.download=true` fetches the official archive
(MD5 checked) and extracts it safely.

The batches are pickles, and unpickling runs code named in the file; a restricted unpickler
accepts only the numpy array reconstruction the real files need, so a hostile "data set" cannot
execute anything.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import candidate_dirs, check_split, data_home, source_info, to_unit_range
from condgan.data.download import download_url, safe_extract_tar
from condgan.errors import CondganError

DIR_NAME = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
META = "batches.meta"
REQUIRED = TRAIN_FILES + TEST_FILES + [META]

# Everything a numpy array pickle (protocol 2+, numpy 1.x or 2.x) refers to; nothing else.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a CIFAR batch")


def _unpickle(path: Path) -> dict:
    """A batch dict with str keys (the official files are Python 2 pickles with bytes keys)."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as e:
        raise CondganError(f"CIFAR-10 file {path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CondganError(f"CIFAR-10 file {path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _missing(directory: Path) -> list[str]:
    return [name for name in REQUIRED if not (directory / name).is_file()]


def _download(cfg: DataConfig) -> Path:
    """Fetch and extract the archive next to where it will be searched; the extraction goes to
    a temporary directory first and is renamed into place, so no half-extracted tree remains."""
    parent = Path(cfg.root).expanduser() if cfg.root else data_home()
    parent.mkdir(parents=True, exist_ok=True)
    archive = parent / "cifar-10-python.tar.gz"
    download_url(URL, archive, md5=MD5)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".cifar10-extract-"))
    try:
        safe_extract_tar(archive, tmp)
        if _missing(tmp / DIR_NAME):
            raise CondganError(f"archive {archive} has no complete {DIR_NAME} directory")
        if (parent / DIR_NAME).exists():
            shutil.rmtree(parent / DIR_NAME)
        (tmp / DIR_NAME).rename(parent / DIR_NAME)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    archive.unlink()
    return parent / DIR_NAME


def _locate(cfg: DataConfig) -> Path:
    candidates = candidate_dirs(cfg.root, DIR_NAME)
    if cfg.root:  # data.root may be the batches directory or the folder that contains it
        candidates.append(candidates[0] / DIR_NAME)
    tried = []
    for directory in candidates:
        if not directory.is_dir():
            tried.append(f"{directory} (does not exist)")
            continue
        missing = _missing(directory)
        if not missing:
            return directory
        tried.append(f"{directory} (missing {', '.join(missing)})")
    if cfg.download:
        return _download(cfg)
    raise CondganError(
        f"data set 'cifar10': python-pickle batches not found; tried {'; '.join(tried)}. Set "
        f"data.root (or $CONDGAN_DATA) to the extracted {DIR_NAME} directory of {URL}, or set "
        "data.download=true")


@DATASETS.register("cifar10")
@source_info(num_classes=10, official_test=True, downloadable=True, reads_root=True)
def load_cifar10(cfg: DataConfig, split: str) -> ImageData:
    check_split(split)
    directory = _locate(cfg)
    meta = _unpickle(directory / META)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])]
    if not names:
        raise CondganError(f"CIFAR-10 file {directory / META} has no label_names")
    pixels, labels = [], []
    for name in TRAIN_FILES if split == "train" else TEST_FILES:
        path = directory / name
        batch = _unpickle(path)
        data, y = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3 * 32 * 32 or y is None or len(y) != len(data):
            raise CondganError(f"CIFAR-10 file {path}: expected 'data' uint8 N×3072 and N 'labels'")
        y = np.asarray(y, dtype=np.int64)
        if y.size and (y.min() < 0 or y.max() >= len(names)):
            raise CondganError(f"CIFAR-10 file {path}: label {y.max()} out of range 0..{len(names) - 1}")
        pixels.append(data)
        labels.append(y)
    # Rows are channel-major (1024 red, 1024 green, 1024 blue), i.e. already C×H×W.
    images = to_unit_range(np.concatenate(pixels)).view(-1, 3, 32, 32)
    return ImageData(images, torch.from_numpy(np.concatenate(labels)), names)
