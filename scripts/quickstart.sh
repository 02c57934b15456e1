#!/usr/bin/env bash
# The main job: set up .venv, train a conditional GAN (modified AC-GAN) on the embedded MNIST-5k digits (CPU, a few minutes),
# evaluate it with the shipped (pinned) MNIST-5k classifier, and write a report: the sample grid, the metrics
# beside the real-data row, and each stage's wall time (recorded by the commands in $OUT/stages.json).
# Each stage announces itself, so a log of this script says where time went or what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/quickstart}
echo "[1/4] setting up .venv (first run: installs dependencies, a few minutes) ..."
bash scripts/setup_env.sh
echo "[2/4] training a modified AC-GAN on MNIST-5k into $OUT (3,000 steps, CPU: about 6 minutes on 2 idle cores; re-running resumes) ..."
.venv/bin/condgan train mnist5k-quickstart --out "$OUT" "${@:2}"
echo "[3/4] evaluating 5,000 samples with the shipped classifier (the first time also scores real train images the same way: cached) ..."
.venv/bin/condgan evaluate "$OUT" --num-samples 5000
echo "[4/4] writing the report ..."
.venv/bin/condgan report "$OUT" --out "$OUT/report.md"
echo "done. samples: $OUT/samples/latest.png   report: $OUT/report.md   metrics: $OUT/eval.json"
