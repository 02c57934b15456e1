"""Run-directory layout and atomic checkpoints.

A run directory holds `config.yaml` (the resolved config), `checkpoints/last.pt` (everything
needed to resume bit-identically), `metrics.jsonl`, `tb/` (TensorBoard), `samples/`, plots and
reports. Files are written to a temporary name in the same directory and renamed, so a run killed
at any moment leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import yaml

from condgan.errors import CondganError
from condgan.integrity import state_with_digest, unreadable_reason, verify_state
from condgan.io import DirectoryLock, atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    checkpoints = property(lambda self: self.root / "checkpoints")
    last = property(lambda self: self.root / "checkpoints" / "last.pt")
    best = property(lambda self: self.root / "checkpoints" / "best.pt")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    samples = property(lambda self: self.root / "samples")
    tensorboard = property(lambda self: self.root / "tb")

    def lock(self) -> DirectoryLock:
        """The run's writer lock (`RUN/.lock`): one training process per run directory.
        Readers (sample, evaluate, report) do not take it: every file they read is replaced
        atomically."""
        return DirectoryLock(self.root, what="run directory")

    def read_config_dict(self) -> dict:
        if not self.config.exists():
            raise CondganError(f"'{self.root}' is not a condgan run directory (no config.yaml)")
        try:
            data = yaml.safe_load(self.config.read_text())
        except yaml.YAMLError as e:
            problem = f"invalid YAML: {str(e).splitlines()[0]}"
        else:
            if isinstance(data, dict):
                return data
            problem = "not a mapping of config keys"
        raise CondganError(f"'{self.config}' is damaged ({problem}); the run's config is also stored in "
                           f"'{self.last}': re-running `condgan train` with the run's config rewrites it")


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomically write `state` with the SHA-256 of its content (condgan.integrity)."""
    buffer = io.BytesIO()
    torch.save(state_with_digest(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """The state saved by `save_checkpoint`; a file that cannot be read, or whose content fails
    its SHA-256 check (damaged after it was written), is refused with one line."""
    path = Path(path)
    if path.name == "best.pt" and not path.exists():
        raise CondganError(f"checkpoint '{path}' does not exist: a run keeps best.pt only when it evaluates "
                           "during training with eval.best_metric set (e.g. --set eval.every=500 --set "
                           "eval.best_metric=fid); use --checkpoint last")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CondganError(f"checkpoint '{path}' does not exist; train the run first") from None
    except Exception as e:  # a truncated or foreign file
        raise CondganError(f"checkpoint '{path}' cannot be read: {unreadable_reason(e)}") from None
    if not isinstance(state, dict):
        raise CondganError(f"checkpoint '{path}' cannot be read: it holds a {type(state).__name__}, "
                           "not a condgan checkpoint")
    problem = verify_state(state)
    if problem:
        raise CondganError(f"checkpoint '{path}' is damaged: {problem}; it was changed after condgan wrote "
                           "it, so it is not used: restore it from a copy, or use another checkpoint of the run")
    return state
