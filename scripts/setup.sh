#!/usr/bin/env bash
# Sets up everything kdrama-tui needs on a fresh Debian/Ubuntu machine: system packages (only the missing
# ones), a virtualenv in .venv with the package installed, and the player's JavaScript from npm.
# Usage: scripts/setup.sh [--test]   (--test adds what the test suite needs: PostgreSQL, Chromium, nginx...)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# postgresql-client: pg_dump/pg_restore for backups when database.url is PostgreSQL.
packages=(ffmpeg nodejs npm postgresql-client)
[ $want_test = 1 ] && packages+=(postgresql chromium nginx-light wrk tmux)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# nodejs may come from elsewhere (nodesource, nvm): a working node + npm is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ $want_test = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
if [ -f package.json ]; then
  # devDependencies (the tus server bench/upload.py compares against) only for a test/bench setup.
  omit_dev=()
  [ $want_test = 1 ] || omit_dev=(--omit=dev)
  npm ci --no-audit --no-fund --loglevel=error "${omit_dev[@]}"
fi
