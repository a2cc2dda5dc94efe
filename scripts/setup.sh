#!/usr/bin/env bash
# Create .venv and install Timbre's pinned requirements (dev by default, --runtime for the app).
# Idempotent: a stamp of the requirement files' hash skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=dev
[ "${1:-}" = "--runtime" ] && kind=runtime
reqs=requirements-dev.txt
[ "$kind" = runtime ] && reqs=requirements.txt

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && \
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python=$candidate; break
  fi
done
[ -n "$python" ] || { echo "setup: Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.timbre-$kind-stamp"
hash=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$reqs"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$hash" > "$stamp"
fi
