"""Checksums of what condgan writes and reads back later: checkpoints and real-reference caches.

Atomic writes (condgan.io) rule out torn files, but not damage after the write: a bad disk
sector, a copy that flipped bits, a file edited by hand. A damaged checkpoint that still
unpickles would load and sample silently, and damaged reference features would turn into wrong
scores or a crash deep inside scipy. So every such file carries the SHA-256 of its content,
written with it and checked on every read:

* **Checkpoints** (`state_with_digest` / `verify_state`): the digest covers the whole state
  dict — every tensor's dtype, shape and raw bytes, every other value's `repr`, in the dict's
  (pickled, hence preserved) order — and is stored in the state under `DIGEST_KEY`. A state
  whose content does not match is refused: it cannot be repaired, only replaced.
* **Caches** (`tensors_digest`): the digest of a named set of tensors, stored in the cache
  file's metadata. A cache that does not match is rebuilt: it is derived data.

Hashing runs at disk speed (~1 GB/s), far below the cost of training or extracting features.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import torch

DIGEST_KEY = "integrity"
"""Key of a checkpoint's digest record: {"algorithm": ..., "sha256": hex digest}."""
ALGORITHM = "condgan-state-sha256-v1"


def _update(h, obj: Any, path: str) -> None:
    """Feed one value into the hash, with its path and type, so that moving a value to another
    key or changing its type changes the digest as much as changing its bytes does."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"{path}\0tensor\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, Mapping):
        h.update(f"{path}\0mapping\0{len(obj)}\n".encode())
        for key, value in obj.items():
            _update(h, value, f"{path}/{key!r}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"{path}\0sequence\0{len(obj)}\n".encode())
        for i, value in enumerate(obj):
            _update(h, value, f"{path}[{i}]")
    else:  # numbers, strings, None, dtypes: their repr round-trips through torch.save
        h.update(f"{path}\0{type(obj).__name__}\0{obj!r}\n".encode())


def state_digest(state: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a checkpoint state's content, without its own digest record."""
    h = hashlib.sha256()
    _update(h, {k: v for k, v in state.items() if k != DIGEST_KEY}, "")
    return h.hexdigest()


def state_with_digest(state: Mapping[str, Any]) -> dict:
    """A copy of `state` (shallow) carrying the digest of its content under DIGEST_KEY."""
    out = {k: v for k, v in state.items() if k != DIGEST_KEY}
    out[DIGEST_KEY] = {"algorithm": ALGORITHM, "sha256": state_digest(out)}
    return out


def verify_state(state: Mapping[str, Any]) -> str | None:
    """Why `state` fails its integrity check, or None when it passes. A state without a digest
    record (written before condgan checksummed checkpoints) passes: there is nothing to check."""
    record = state.get(DIGEST_KEY)
    if record is None:
        return None
    if not isinstance(record, Mapping) or record.get("algorithm") != ALGORITHM or "sha256" not in record:
        return f"its integrity record is unreadable ({record!r})"
    actual = state_digest(state)
    if actual != record["sha256"]:
        return (f"its content does not match the SHA-256 written with it (stored {record['sha256'][:12]}…, "
                f"content {actual[:12]}…)")
    return None


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of named tensors (names sorted: independent of the order they are stored in)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        _update(h, tensors[name], name)
    return h.hexdigest()


def unreadable_reason(error: BaseException) -> str:
    """A short reason why torch.load / np.load could not read a file, without the libraries'
    advice to retry with `weights_only=False` / `allow_pickle=True`: unpickling arbitrary objects
    runs code from the file, and a file condgan wrote never needs it."""
    text = str(error)
    if "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()[0][:100] \
            if "WeightsUnpickler error:" in text else "unsupported content"
        return (f"it is not a file of tensors and plain values (torch's safe loader: {detail}), so it is "
                "damaged or not this kind of file")
    if "pickled (object) data" in text:
        return ("it is neither an .npz archive nor an .npy array (numpy would have to unpickle it, which "
                "condgan never does), so it is damaged or not this kind of file")
    if isinstance(error, EOFError) or "No data left" in text:
        return "it is empty or truncated"
    if "zip archive" in text or "not a zip file" in text.lower() or type(error).__name__ == "BadZipFile":
        return "it is not a valid archive (truncated, damaged, or not this kind of file)"
    first = text.splitlines()[0][:160] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
