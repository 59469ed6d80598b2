#!/usr/bin/env bash
# Set up (idempotent), bring the database schema up to date, and start the whole system on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/kdrama-tui migrate
exec .venv/bin/kdrama-tui "$@"
