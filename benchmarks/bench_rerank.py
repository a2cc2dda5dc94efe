"""Hybrid speed: live re-ranking, the live metrics panel, and the all-users export.

* Re-ranking one user after a weight change, from cached normalised components (what a slider
  on the Tune page does): median over many weight changes, on the demo (17,632 items) and on a
  synthetic 160,000-item catalogue. Reference in the same run: a bare ``top_n`` of one fused
  vector (the least any re-ranking must do).
* The live metrics panel (300 held-out users): median per weight change. Reference: the CF
  model's plain top-10 for the same users.
* The all-users export (top-50 with every component and reasons for 1,892 users). Reference:
  the CF model's plain top-50 for all users.

Run: ``.venv/bin/python -m benchmarks.bench_rerank [--home DIR]``; writes
``benchmarks/results/rerank.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import demo_data
from timbre.evaluation import make_split
from timbre.hybrid import HybridEngine, MetricsPanel, Weights, batch_frame
from timbre.interactions import InteractionData, Vocabulary, build_matrix
from timbre.models import create_model
from timbre.models.base import top_n

RESULTS = Path(__file__).resolve().parent / "results" / "rerank.json"


def median_ms(run: Callable[[int], object], repeat: int) -> tuple[float, list[float]]:
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), samples


def weights_for(i: int) -> Weights:
    """A different weight set for every call, as a moving slider gives."""
    step = (i % 20) / 20
    return Weights(
        cf=0.3 + step,
        content=0.2,
        personality=0.1,
        novelty=0.05 + step / 4,
        diversity=0.05 + step / 2,
    )


def rerank(engine: HybridEngine, users: list[int] | None, repeat: int) -> dict[str, Any]:
    members = (
        engine.components_batch(users) if users is not None else [engine.components_for_row(None)]
    )
    cached = []
    for components in members:
        cached.append((components, engine.normalized(components)))

    def one(i: int) -> None:
        components, normalized = cached[i % len(cached)]
        engine.rank(components, weights_for(i), n=10, normalized=normalized)

    median, samples = median_ms(one, repeat)
    fused = sum(cached[0][1].values())

    def reference(_i: int) -> None:
        top_n(fused, 10)

    ref, _ = median_ms(reference, repeat)
    return {
        "items": engine.data.n_items,
        "median_ms": median,
        "p90_ms": float(np.percentile(samples, 90)),
        "reference_top_n_ms": ref,
        "ratio": median / ref,
    }


def synthetic(
    n_users: int = 20_000, n_items: int = 160_000, nnz: int = 1_200_000
) -> InteractionData:
    rng = np.random.default_rng(7)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    items = rng.choice(n_items, size=nnz, p=popularity)
    users = rng.integers(0, n_users, size=nnz)
    counts = rng.integers(1, 30, size=nnz)
    matrix = build_matrix(users, items, counts, (n_users, n_items))
    tags = [f"tag{t}" for t in range(300)]
    meta = pd.DataFrame(
        {
            "key": [f"item{i}" for i in range(n_items)],
            "name": [f"Item {i}" for i in range(n_items)],
            "kind": "artist",
            "artist": None,
            "tags": [list(rng.choice(tags, size=3, replace=False)) for _ in range(n_items)],
            "genres": [[] for _ in range(n_items)],
        }
    )
    return InteractionData(
        "synthetic-160k",
        Vocabulary([f"u{u}" for u in range(n_users)], "user"),
        Vocabulary(meta["key"], "item"),
        matrix,
        meta,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a Timbre home with the demo loaded (default: a new one)")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    data = demo_data(args.home)
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version()}
    }
    model = create_model("als").fit(data)
    engine = HybridEngine(data, model)
    results["rerank_demo"] = rerank(engine, list(range(0, 1892, 95)), args.repeat)
    print("re-rank, demo:", json.dumps(results["rerank_demo"]))

    started = time.perf_counter()
    big = synthetic()
    big_model = create_model("als", {"factors": 32, "iterations": 3}).fit(big)
    big_engine = HybridEngine(big, big_model)
    results["synthetic_setup_seconds"] = time.perf_counter() - started
    results["rerank_160k"] = rerank(big_engine, [0, 1, 2, 3, 4], max(50, args.repeat // 4))
    print("re-rank, 160k items:", json.dumps(results["rerank_160k"]))

    split = make_split(data)
    split_model = create_model("als").fit(split.train)
    panel = MetricsPanel(HybridEngine(split.train, split_model), split, sample=300)
    median, _ = median_ms(lambda i: panel.measure(weights_for(i)), 20)
    ref, _ = median_ms(lambda _i: split_model.recommend_batch(panel.users, 10), 5)
    results["metrics_panel"] = {
        "users": len(panel.users),
        "median_ms": median,
        "reference_cf_top10_ms": ref,
        "ratio": median / ref,
    }
    print("metrics panel:", json.dumps(results["metrics_panel"]))

    users = np.arange(data.n_users)
    export_ms, samples = median_ms(lambda _i: batch_frame(engine, users, Weights(), 50), 3)
    ref, _ = median_ms(lambda _i: model.recommend_batch(users, 50), 3)
    results["export_all_users"] = {
        "users": int(data.n_users),
        "n": 50,
        "median_s": export_ms / 1000,
        "samples_s": [s / 1000 for s in samples],
        "reference_cf_top50_s": ref / 1000,
        "ratio": export_ms / ref,
    }
    print("export:", json.dumps(results["export_all_users"]))
    results["targets"] = {
        "rerank_demo_ms": 10,
        "rerank_160k_ms": 50,
        "metrics_panel_ms": 300,
        "export_s": 3,
    }
    results["meets"] = {
        "rerank_demo": results["rerank_demo"]["median_ms"] <= 10,
        "rerank_160k": results["rerank_160k"]["median_ms"] <= 50,
        "metrics_panel": results["metrics_panel"]["median_ms"] <= 300,
        "export": results["export_all_users"]["median_s"] <= 3,
    }
    print("meets targets:", results["meets"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
