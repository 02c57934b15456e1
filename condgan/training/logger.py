"""Training logs: JSONL (one record per log interval), TensorBoard scalars, and progress on
stderr: a tqdm bar on a terminal, else one plain line per log interval (a bar redrawn into a
log file or a CI console is unreadable, and no output at all looks like a hang).

Per-step losses stay as detached tensors until a flush, so logging costs no device sync per
step; the flush also checks them for NaN/Inf and names the first bad step and loss.

On resume, records after the checkpoint's step (written by a killed run) are dropped from
`metrics.jsonl` and purged from TensorBoard. A torn last line of `metrics.jsonl` (a kill during
its write) is dropped with a warning; a damaged line anywhere else is not something a kill
leaves, so it is an error naming the line rather than data silently thrown away.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from condgan.console import say, warn  # noqa: F401  (re-exported)
from condgan.errors import CondganError


class TrainingDiverged(CondganError):
    pass


def read_metrics_lines(path: Path) -> list[tuple[str, dict]]:
    """(line, record) of every record in a `metrics.jsonl`. A damaged last line without its
    newline is what a kill during its write leaves: dropped with a warning. A damaged line
    anywhere else, or one that ends in a newline (garbage, bytes that are not text), is not: an
    error naming the line, rather than data silently thrown away."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines()
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            if number == len(lines) and not text.endswith("\n"):
                warn(f"'{path}' line {number} is incomplete (the run was killed while writing it); dropped")
                continue
            raise CondganError(
                f"'{path}' line {number} is damaged ({str(e).splitlines()[0][:120]}); delete or repair that "
                "line (the checkpoint does not depend on it) and re-run") from None
        out.append((line, record))
    return out


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class TrainingLog:
    def __init__(self, metrics_path: Path, tb_dir: Path, start_step: int, total_steps: int,
                 batch_size: int, progress: bool):
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        self.path = Path(metrics_path)
        self._truncate_after(start_step)
        # purge_step drops events a killed run wrote after its last checkpoint; the checkpoint's
        # own step was logged before the checkpoint was written, so it is kept.
        self.tb = SummaryWriter(str(tb_dir), purge_step=start_step + 1 if start_step > 0 else None)
        terminal = sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not (progress and terminal),
                        dynamic_ncols=True, unit="step", file=sys.stderr)
        self.lines = progress and not terminal
        self.batch_size = batch_size
        self.start_step, self.total_steps = start_step, total_steps
        self.pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self._t0 = self._start = time.perf_counter()

    def _truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (the checkpoint a resumed run starts from); rewritten
        atomically, so a kill now cannot lose the records of earlier steps."""
        from condgan.io import atomic_write_text

        if not self.path.exists():
            return
        keep = [line for line, record in read_metrics_lines(self.path) if record.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))

    def record(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        self.pending.append((step, losses))
        self.bar.update(1)

    def flush(self, step: int, last_good_step: int | None) -> dict | None:
        """Check pending losses for NaN/Inf, write their means; return the record (or None)."""
        if not self.pending:
            return None
        # A phase that runs every k-th step (lazy regularization) logs on those steps only: each
        # key's mean is over the steps that logged it.
        keys = list(dict.fromkeys(k for _, losses in self.pending for k in losses))
        missing = torch.full((), float("nan"), device=next(iter(self.pending[0][1].values())).device)
        table = torch.stack([torch.stack([l[k].float() if k in l else missing for k in keys])
                             for _, l in self.pending]).cpu()
        present = torch.tensor([[k in l for k in keys] for _, l in self.pending])
        bad = ~torch.isfinite(table) & present
        if bad.any():
            row, col = map(int, bad.nonzero()[0])
            kept = (f"last good checkpoint is step {last_good_step}" if last_good_step is not None
                    else "no checkpoint was written yet")
            raise TrainingDiverged(
                f"loss '{keys[col]}' is {table[row, col].item()} at step {self.pending[row][0]}; "
                f"stopped, {kept}")
        elapsed = time.perf_counter() - self._t0
        means = table.mean(0) if present.all() else table.nan_to_num(0).sum(0) / present.sum(0)
        record = {"step": step, **{k: float(v) for k, v in zip(keys, means)},
                  "images_per_s": len(self.pending) * self.batch_size / max(elapsed, 1e-9),
                  "time": time.time()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        for k in keys:
            self.tb.add_scalar(f"loss/{k}", record[k], step)
        self.tb.add_scalar("speed/images_per_s", record["images_per_s"], step)
        self.bar.set_postfix({k: f"{record[k]:.3g}" for k in keys[:4]} | {"img/s": f"{record['images_per_s']:.0f}"})
        if self.lines:
            say(self._progress_line(record, keys))
        self.pending.clear()
        self._t0 = time.perf_counter()
        return record

    def _progress_line(self, record: dict, keys: list[str]) -> str:
        step, total = record["step"], self.total_steps
        done = step - self.start_step
        eta = (time.perf_counter() - self._start) / max(done, 1) * (total - step)
        losses = "  ".join(f"{k} {record[k]:.4g}" for k in keys if k.endswith("loss"))
        return (f"step {step}/{total} ({100 * step / total:.0f}%)  {losses}  "
                f"{record['images_per_s']:.0f} img/s  ETA {format_duration(eta)}")

    def sync(self) -> None:
        """Push buffered TensorBoard events to disk. Called before each checkpoint: without it
        the writer holds up to two minutes of events in memory, and a kill loses points that
        the resumed run (which purges only steps after the checkpoint) never writes again."""
        self.tb.flush()

    def log_scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        for k, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(f"{prefix}/{k}", v, step)
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, prefix: values}) + "\n")

    def close(self) -> None:
        self.tb.close()
        self.bar.close()
