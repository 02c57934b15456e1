"""Evaluation gives the same numbers whatever the caller's thread count (condgan.evaluation.threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from condgan.validation import load_config
from condgan.evaluation.threads import EVAL_THREADS, evaluation_threads
from condgan.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
# `condgan evaluate ...` in a process whose torch uses argv[1] threads (as `train.threads` or a
# user's torch.set_num_threads would set them).
EVALUATE_WITH_THREADS = ("import sys, torch\n"
                         "torch.set_num_threads(int(sys.argv[1]))\n"
                         "from condgan.cli.main import main\n"
                         "sys.exit(main(sys.argv[2:]))\n")


def test_evaluation_threads_fix_torch_and_blas_and_restore_them():
    from threadpoolctl import threadpool_info

    torch.set_num_threads(2)
    with evaluation_threads():
        assert torch.get_num_threads() == EVAL_THREADS == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert torch.get_num_threads() == 2


def test_evaluate_in_processes_with_different_thread_counts_gives_identical_numbers(tmp_path):
    """The quickstart's network widths on 8×8 digits, 2 training steps. Without the fixed
    evaluation thread count the FID of 1 and 3 threads differed by 1e-5 here (the generator's
    second transposed convolution splits its sums differently), above the 1e-6 asked for."""
    run = tmp_path / "run"
    cfg = load_config("mnist5k-quickstart", ["data.name=digits", "data.image_size=8", "train.steps=2",
                                             "train.sample_every=0", "train.checkpoint_every=2", "train.threads=1"])
    Trainer(cfg, run, progress=False).train()
    results = []
    for threads in (1, 3):
        out = tmp_path / f"eval{threads}.json"
        env = dict(os.environ, CONDGAN_CACHE=str(tmp_path / f"cache{threads}"))  # each computes its reference
        proc = subprocess.run([sys.executable, "-c", EVALUATE_WITH_THREADS, str(threads), "evaluate", str(run),
                               "--num-samples", "500", "--metrics", "fid,kid,prdc,conditional_accuracy",
                               "--no-baseline-row", "--out", str(out)],
                              capture_output=True, text=True, cwd=REPO, env=env)
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(out.read_text()))
    one, three = results
    assert one["extractor"].startswith("domain-shipped-digits-") and one["extractor_sha256"]
    assert abs(one["metrics"]["fid"] - three["metrics"]["fid"]) <= 1e-6
    assert one["metrics"] == three["metrics"]  # in fact bit-identical, every metric
