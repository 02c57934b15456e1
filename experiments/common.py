"""Helpers the experiment drivers share: run `condgan train` as a subprocess (skipping runs
that already finished), run many in a thread pool, read evaluation series from metrics.jsonl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(run_dir: Path, preset: str, overrides: list[str], log) -> None:
    shown = os.path.relpath(run_dir, ROOT) if run_dir.is_absolute() else str(run_dir)
    cmd = ["condgan", "train", preset, "--out", shown, "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    log.append(" ".join(cmd))
    if (run_dir / "checkpoints" / "last.pt").exists() and (run_dir / "done").exists():
        return
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "condgan.cli.main"] + cmd[1:], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    (run_dir / "done").write_text(f"{time.time() - t0:.1f}\n")
    print(f"[{time.time() - t0:6.1f} s] {run_dir.name}", flush=True)


def eval_series(run_dir: Path, key: str) -> list[tuple[int, float]]:
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "eval" in rec and key in rec["eval"]:
            out.append((rec["step"], rec["eval"][key]))
    return out


def run_all(jobs, workers: int) -> list[str]:
    log: list[str] = []
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(train, d, p, o, log) for d, p, o in jobs]:
            f.result()
    return log




def fmt_ms(values: list[float], digits: int = 3) -> str:
    """'mean ± std' of a list of per-seed values (std 0 for a single seed)."""
    import statistics

    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"
