#!/usr/bin/env bash
# Set up (idempotent) with the test extras and run the whole test suite (pytest) plus ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/lint-imports
exec .venv/bin/python -m pytest -n 2 "$@"
