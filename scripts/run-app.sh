#!/usr/bin/env bash
# The README's first command: set up and start the app (it loads the bundled demo on first start).
# It listens on 127.0.0.1 only; TIMBRE_ADDRESS=0.0.0.0 exposes it (README, "Exposing the app":
# without a presenter password hash it is then a read-only demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --runtime
export OPENBLAS_NUM_THREADS=1
echo "timbre: starting the app on ${TIMBRE_ADDRESS:-127.0.0.1} (port 8501 unless --server.port" \
  "says otherwise; Streamlit prints the address); an empty store loads the bundled demo first:" \
  "about 10 s, with its progress on the page" >&2
exec .venv/bin/streamlit run streamlit_app.py --server.headless true \
  --server.address "${TIMBRE_ADDRESS:-127.0.0.1}" --browser.gatherUsageStats false "$@"
