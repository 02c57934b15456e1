"""Pinned domain classifiers of the embedded data sets, shipped as package data.

FID and its kin are only comparable between runs scored with the *same* network; a classifier
each user trains on their own machine is a different ruler on every CPU (float reductions
differ). So, like torch-fidelity and clean-fid pin their Inception weights, condgan ships one
classifier per embedded data set (MNIST-5k, Fashion-MNIST, digits), made by
`scripts/make_shipped_classifiers.py`, and checks each file's SHA-256 against `manifest.json`
before loading it. The manifest also records each one's recipe, data options, test accuracy,
the torch version and the command that made it.

A shipped classifier is used when the data options that shape a classifier (`KEY_FIELDS`, except
`root`: the same published files wherever they are found) equal the ones it was trained with and
the classifier seed is its seed (0); any other options get the trained-and-cached route.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load as load_safetensors

from condgan.config import DataConfig
from condgan.errors import CondganError
from condgan.features.base import resolve_device
from condgan.features.domain.cache import key_fields
from condgan.features.domain.net import DomainClassifier, DomainExtractor

WEIGHTS_DIR = Path(__file__).with_name("weights")
MANIFEST = WEIGHTS_DIR / "manifest.json"
MANIFEST_FORMAT = 1
# Where the files may be found: the data options that do not change what the images are.
IGNORED_FIELDS = ("root",)
# Tensors of rank >= 2 (conv and linear weights) are stored in float16 to halve the files;
# evaluation upcasts them to float32. The test accuracy in the manifest is that of the stored
# (rounded) weights.
STORED_DTYPE = torch.float16


class ShippedClassifierError(CondganError):
    """A shipped classifier file is missing, damaged or does not match its manifest."""


@functools.lru_cache(maxsize=None)
def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ShippedClassifierError(f"manifest of the shipped domain classifiers {path} is unreadable "
                                     f"({e}); reinstall condgan") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ShippedClassifierError(f"{path}: manifest format {manifest.get('format')!r}, this condgan "
                                     f"reads format {MANIFEST_FORMAT}; reinstall condgan")
    return manifest


def shipped_manifest(path: Optional[Path] = None) -> dict:
    """The manifest: {"format", "torch", "command", "classifiers": {data set name: entry}}."""
    return _read_manifest(Path(path or MANIFEST))


def _matching_fields(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if k not in IGNORED_FIELDS}


def find_shipped(data_cfg: DataConfig, seed: int = 0, manifest_path: Optional[Path] = None) -> Optional[dict]:
    """The manifest entry of the shipped classifier for these data options and classifier
    seed, or None when no shipped classifier covers them. `manifest_path` defaults to MANIFEST."""
    entry = shipped_manifest(Path(manifest_path or MANIFEST))["classifiers"].get(data_cfg.name)
    if entry is None or entry["seed"] != seed:
        return None
    return entry if _matching_fields(entry["data"]) == _matching_fields(key_fields(data_cfg)) else None


def shipped_id(entry: dict) -> str:
    """Extractor id (the key of cached reference statistics): data set name + weights hash."""
    return f"domain-shipped-{entry['data']['name']}-{entry['sha256'][:16]}"


def load_shipped(entry: dict, device: str | torch.device = "cpu", weights_dir: Optional[Path] = None) -> DomainExtractor:
    """The extractor of a manifest entry; the file's SHA-256 must equal the manifest's.
    `weights_dir` defaults to the package's WEIGHTS_DIR."""
    path = Path(weights_dir or WEIGHTS_DIR) / entry["file"]
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ShippedClassifierError(f"shipped domain classifier {path} cannot be read ({e.strerror or e}); "
                                     "reinstall condgan") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry["sha256"]:
        raise ShippedClassifierError(
            f"shipped domain classifier {path} fails its SHA-256 check ({len(blob)} bytes, SHA-256 "
            f"{digest[:16]}…, manifest says {entry['sha256'][:16]}…): the file is damaged or was "
            "modified; reinstall condgan")
    model = DomainClassifier.from_info(entry)
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_safetensors(blob).items()}
        model.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001 - the hash matched, so the manifest and code disagree
        raise ShippedClassifierError(f"shipped domain classifier {path} does not fit this condgan's "
                                     f"network ({str(e).splitlines()[0]}); reinstall condgan") from None
    return DomainExtractor(model.eval(), entry, shipped_id(entry), path, from_cache=False,
                           weights_sha256=digest, source="shipped").to(resolve_device(device)).eval()


def storable_state(model: DomainClassifier) -> dict[str, torch.Tensor]:
    """The state dict as shipped: rank >= 2 floating tensors in STORED_DTYPE, the rest as is."""
    return {k: (v.to(STORED_DTYPE) if v.is_floating_point() and v.dim() >= 2 else v).detach().cpu().contiguous()
            for k, v in model.state_dict().items()}
