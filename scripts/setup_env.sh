#!/usr/bin/env bash
# Create ./.venv and install condgan with its test extras (idempotent: re-installs only when
# pyproject.toml changed). torch is pinned to the CPU wheel available offline on our machines;
# the package itself accepts any torch >= 2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.condgan-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "torch==${CONDGAN_TORCH_VERSION:-2.13.0}" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import condgan, torch" && touch "$stamp"
fi
