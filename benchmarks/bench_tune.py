"""Tune stays live: server-side time from a slider move to the updated list and metrics.

The Tune page runs in Streamlit's own test runner (``AppTest``) on a demo home with the default
ALS run: each of the five weight sliders is moved 20 times to a new value, and each move's
rerun's fragment (what a browser reruns when a slider moves: list, contribution bars,
metrics panel; trade-off curves off, their default) is timed by the page itself
(``tune_live_ms``). Reference in the same run: AppTest's whole-page rerun with nothing changed
(AppTest cannot rerun a fragment alone, so each move also pays for the rest of the page).

Run: ``.venv/bin/python -m benchmarks.bench_tune [--home DIR] [--moves 20]``; writes
``benchmarks/results/tune.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from timbre.config import Settings
from timbre.hybrid import KNOBS
from timbre.services.runs import train_run
from timbre.sources.demo import DEMO_DATASET, demo_is_loaded, load_demo
from timbre.store import Store

RESULTS = Path(__file__).resolve().parent / "results" / "tune.json"
ROOT = Path(__file__).resolve().parents[1]


def _home(scratch: Path, source: str | None) -> Path:
    home = scratch / "home"
    if source:
        shutil.copytree(source, home)
    with Store.open(Settings(home=home)) as store:
        if not demo_is_loaded(store):
            load_demo(store)
        if not store.list_model_runs():
            from timbre.services.data import load_data

            train_run(store, Settings(home=home), load_data(store, DEMO_DATASET), "als")
    return home


def _timed(at: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    at = at.run(timeout=120)
    seconds = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return at, seconds * 1000


def main(argv: list[str] | None = None) -> int:
    from streamlit.testing.v1 import AppTest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a Timbre home with the demo (copied, not changed)")
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        home = _home(Path(scratch), args.home)
        os.environ["TIMBRE_HOME"] = str(home)
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/tune.py")
        at, first = _timed(at)  # builds the engine and the panel
        at, cached = _timed(at)  # a whole-page rerun with nothing changed
        per_slider: dict[str, dict[str, float]] = {}
        for knob in KNOBS:
            samples = []
            for move in range(args.moves):
                at.slider(key=f"tune_w_{knob}").set_value(round(0.05 * (1 + move % 19), 2))
                at, _ = _timed(at)
                samples.append(float(at.session_state["tune_live_ms"]))
            per_slider[knob] = {
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
            }
            print(knob, json.dumps(per_slider[knob]), flush=True)
    medians = [v["median_ms"] for v in per_slider.values()]
    result = {
        "first_run_ms": round(first, 1),
        "cached_rerun_ms": round(cached, 1),
        "sliders": per_slider,
        "worst_median_ms": max(medians),
        "ratio_to_whole_page_rerun": round(max(medians) / cached, 2),
        "cpus": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
