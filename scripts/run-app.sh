#!/usr/bin/env bash
# The README's first command: set up and start the app (it loads the bundled demo on first start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --runtime
export OPENBLAS_NUM_THREADS=1
exec .venv/bin/streamlit run streamlit_app.py --server.headless true \
  --browser.gatherUsageStats false "$@"
