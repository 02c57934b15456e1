"""The real-data row of a run's evaluation: held-out real images scored exactly as its fakes.

A metric value means little without the value a perfect generator would get under the same
protocol (the same extractor weights, number of samples, evaluation seed, real reference and
metrics): FID of real against real is not 0 with 5,000 samples. `condgan evaluate RUN` therefore
adds this row to eval.json ("real_data_row") and `condgan report` prints it under the run's row.

It depends only on the data options and the protocol, never on the run, so it is cached
($CONDGAN_CACHE/baseline/, keyed by all of them and the extractor's weights hash): a sweep of
runs on one data set computes it once, and the quickstart pays for it on its first evaluation
only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from condgan.errors import CondganError
from condgan.evaluation.sources import evaluate_baseline
from condgan.evaluation.reference import REFERENCE_VERSION, reference_data_config
from condgan.features import cache_root
from condgan.io import atomic_write_text

# Bump when what `evaluate_baseline` computes changes (which images, which split, a metric's
# definition), so cached rows are recomputed.
BASELINE_VERSION = 2
# What the row keeps of evaluate_baseline's output.
ROW_KEYS = ("metrics", "skipped_metrics", "num_samples", "notes", "extractor", "extractor_sha256",
            "extractor_test_accuracy", "real_split", "eval_seed", "seconds")


def baseline_key(data_cfg, run_result: dict, metrics) -> str:
    """16 hex digits of SHA-256 over everything the row depends on."""
    data = dataclasses.asdict(reference_data_config(data_cfg))
    data.pop("unlabeled", None)
    payload = {"data": data, "extractor": run_result["extractor"], "sha256": run_result.get("extractor_sha256"),
               "n": run_result["num_samples"], "seed": run_result["eval_seed"],
               "split": run_result["real_split"], "metrics": sorted(metrics) if metrics is not None else None,
               "version": [BASELINE_VERSION, REFERENCE_VERSION]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def baseline_row(data_cfg, run_result: dict, metrics=None, extractor: str = "domain", device="cpu",
                 cache_dir=None, extractor_options: dict | None = None) -> dict:
    """The real-data row for `run_result` (an `evaluate_run` result): loaded from the cache or
    computed with `evaluate_baseline` and cached. `cached` says which. A data set whose other
    split cannot serve as fakes gives {"error": why} instead of raising."""
    path = cache_root(cache_dir) / "baseline" / f"{data_cfg.name}-{baseline_key(data_cfg, run_result, metrics)}.json"
    if path.is_file():
        try:
            return {**json.loads(path.read_text()), "cached": True}
        except ValueError:
            pass  # a damaged entry is recomputed
    try:
        result = evaluate_baseline(data_cfg, run_result["num_samples"], metrics, extractor, run_result["eval_seed"],
                                   device, cache_dir, extractor_options, run_result["real_split"])
    except CondganError as e:
        return {"error": str(e)}
    row = {k: result[k] for k in ROW_KEYS if k in result}
    atomic_write_text(path, json.dumps(row, indent=2, sort_keys=True) + "\n")
    return {**row, "cached": False}
