#!/usr/bin/env bash
# The main job: set up .venv, train CA-GAN on the embedded MNIST-5k digits (CPU, a few minutes),
# evaluate it with the domain classifier, and write sample grids, loss curves and a report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
OUT=${1:-runs/quickstart}
.venv/bin/condgan train mnist5k-cagan --out "$OUT" "${@:2}"
.venv/bin/condgan evaluate "$OUT" --num-samples 5000
.venv/bin/condgan report "$OUT" --out "$OUT/report.md"
echo "samples: $OUT/samples/latest.png   report: $OUT/report.md   metrics: $OUT/eval.json"
