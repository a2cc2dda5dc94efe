"""EASE on the demo: training time and peak memory by how many items it models.

Each configuration runs in its own process so that peak resident memory (``VmHWM``, see
``benchmarks.rss``) is its own; a process that only loads the data is the reference, and the
EASE figure is the difference.

Run: ``.venv/bin/python -m benchmarks.bench_ease [--home DIR] [--max-items 2000,4000,8000]``
Writes ``benchmarks/results/ease.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.rss import RSS_CODE

RESULTS = Path(__file__).resolve().parent / "results"

_CHILD = r"""
import json, sys, time
from pathlib import Path
from timbre.config import Settings
from timbre.interactions import InteractionData
from timbre.services.data import load_data
from timbre.models import create_model
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store

home, max_items = sys.argv[1], int(sys.argv[2])
with Store.open(Settings(home=Path(home))) as store:
    data = load_data(store, DEMO_DATASET)
out = {"max_items": max_items}
if max_items > 0:
    started = time.perf_counter()
    model = create_model("ease", {"max_items": max_items}).fit(data)
    out["fit_seconds"] = time.perf_counter() - started
    out["modelled_items"] = int(len(model.kept_))
    out["artifact_mb"] = model.weights_.nbytes / 1e6
RSS_LINE
out["peak_rss_mb"] = rss
print(json.dumps(out))
"""
_CHILD = _CHILD.replace("RSS_LINE", RSS_CODE)  # the child's own peak (benchmarks.rss)


def _run(home: Path, max_items: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(home), str(max_items)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a Timbre home with the demo loaded (default: a new one)")
    parser.add_argument("--max-items", default="2000,4000,8000", help="comma-separated caps")
    parser.add_argument("--out", default=str(RESULTS / "ease.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(args.home) if args.home else Path(scratch) / "home"
        if not args.home:
            subprocess.run(
                [sys.executable, "-m", "timbre", "--home", str(home), "demo"],
                check=True,
                capture_output=True,
            )
        reference = _run(home, 0)
        rows = []
        for cap in (int(v) for v in args.max_items.split(",")):
            row = _run(home, cap)
            row["ease_rss_mb"] = row["peak_rss_mb"] - reference["peak_rss_mb"]
            rows.append(row)
            print(
                f"max_items={cap:>6}: {row['modelled_items']:>6} items modelled, "
                f"fit {row['fit_seconds']:6.2f} s, peak memory +{row['ease_rss_mb']:7.0f} MB "
                f"over loading the data ({reference['peak_rss_mb']:.0f} MB), "
                f"weights {row['artifact_mb']:.0f} MB"
            )
    payload = {"reference_peak_rss_mb": reference["peak_rss_mb"], "runs": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
