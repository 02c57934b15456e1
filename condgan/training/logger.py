"""Training logs: JSONL (one record per log interval), TensorBoard scalars, and a tqdm bar.

Per-step losses stay as detached tensors until a flush, so logging costs no device sync per
step; the flush also checks them for NaN/Inf and names the first bad step and loss.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from condgan.errors import CondganError


class TrainingDiverged(CondganError):
    pass


class TrainingLog:
    def __init__(self, metrics_path: Path, tb_dir: Path, start_step: int, total_steps: int,
                 batch_size: int, progress: bool):
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        self.path = Path(metrics_path)
        self._truncate_after(start_step)
        # purge_step drops events a killed run wrote after its last checkpoint.
        self.tb = SummaryWriter(str(tb_dir), purge_step=start_step if start_step > 0 else None)
        self.bar = tqdm(total=total_steps, initial=start_step, disable=None if progress else True,  # None: off when not a terminal
                        dynamic_ncols=True, unit="step")
        self.batch_size = batch_size
        self.pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self._t0 = time.perf_counter()

    def _truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (the checkpoint a resumed run starts from)."""
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))

    def record(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        self.pending.append((step, losses))
        self.bar.update(1)

    def flush(self, step: int, last_good_step: int) -> dict | None:
        """Check pending losses for NaN/Inf, write their means; return the record (or None)."""
        if not self.pending:
            return None
        keys = list(self.pending[0][1])
        table = torch.stack([torch.stack([l[k].float() for k in keys]) for _, l in self.pending]).cpu()
        bad = ~torch.isfinite(table)
        if bad.any():
            row, col = map(int, bad.nonzero()[0])
            raise TrainingDiverged(
                f"loss '{keys[col]}' is {table[row, col].item()} at step {self.pending[row][0]}; "
                f"stopped, last good checkpoint is step {last_good_step}")
        elapsed = time.perf_counter() - self._t0
        record = {"step": step, **{k: float(v) for k, v in zip(keys, table.mean(0))},
                  "images_per_s": len(self.pending) * self.batch_size / max(elapsed, 1e-9),
                  "time": time.time()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        for k in keys:
            self.tb.add_scalar(f"loss/{k}", record[k], step)
        self.tb.add_scalar("speed/images_per_s", record["images_per_s"], step)
        self.bar.set_postfix({k: f"{record[k]:.3g}" for k in keys[:4]} | {"img/s": f"{record['images_per_s']:.0f}"})
        self.pending.clear()
        self._t0 = time.perf_counter()
        return record

    def log_scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        for k, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(f"{prefix}/{k}", v, step)
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, prefix: values}) + "\n")

    def close(self) -> None:
        self.tb.close()
        self.bar.close()
