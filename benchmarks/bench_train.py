"""Overhead of Timbre's ALS wrapper against raw ``implicit`` on the same CSR matrix, same run.

For each data set (HetRec 2011 Last.fm 2K from the demo, and a synthetic ~2M non-zero matrix
with Zipf-like item popularity) it times, interleaved (raw, Timbre, raw, Timbre, ...):

* weighting ``none``: ``create_model("als", ...).fit(data)`` against
  ``implicit.cpu.als.AlternatingLeastSquares(...).fit(csr)`` inside
  ``threadpool_limits(1, "blas")``, with the same hyper-parameters and seed, and checks that
  both give the same item factors;
* weighting ``bm25``: Timbre's fit, which weights the matrix itself, against
  raw implicit on a matrix BM25-weighted beforehand (the weighting step is timed on its own).

On HetRec it also times training with Timbre's default ALS parameters (target: under 5 s).
Loading the data and hashing its fingerprint are timed separately and left out of the ratios.

Run: ``.venv/bin/python -m benchmarks.bench_train [--repeat N] [--out PATH] [--home DIR]``
Writes ``benchmarks/results/train.json``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads BLAS (implicit's ALS parallelises by itself).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_info, threadpool_limits

from timbre.config import Settings
from timbre.interactions import InteractionData, Vocabulary, build_matrix
from timbre.models import create_model
from timbre.models.weighting import weight_matrix
from timbre.services.data import load_data
from timbre.sources.demo import DEMO_DATASET, demo_is_loaded, load_demo
from timbre.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "train.json"

#: Hyper-parameters shared by Timbre and the raw reference (Timbre's ALS defaults).
ALS_PARAMS: dict[str, Any] = {
    "factors": 64,
    "iterations": 15,
    "regularization": 0.05,
    "random_state": 42,
}
BM25 = {"K1": 100.0, "B": 0.8}
TARGET_RATIO = 1.10
TARGET_DEFAULT_SECONDS = 5.0
RTOL, ATOL = 1e-4, 1e-5


#: Process CPU seconds (all threads) of every timed call, by call order: with ALS using every
#: core, CPU well below cores x wall means other processes were competing for the CPUs.
CPU_SECONDS: list[float] = []


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of one call and its result (its CPU seconds go to ``CPU_SECONDS``)."""
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    CPU_SECONDS.append(time.process_time() - cpu)
    return elapsed, result


def raw_fit(matrix: sp.csr_matrix) -> AlternatingLeastSquares:
    """The reference: implicit's CPU ALS, built and fitted under a one-thread BLAS limit."""
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**ALS_PARAMS)
        model.fit(matrix, show_progress=False)
    return model


def timbre_fit(data: InteractionData, weighting: str) -> Any:
    """Timbre's ALS with the same hyper-parameters and the given weighting."""
    return create_model("als", {**ALS_PARAMS, "weighting": weighting}).fit(data)


def raw_bm25(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """BM25 per item column, as Timbre's ``bm25`` weighting, cast to implicit's float32."""
    weighted = bm25_weight(matrix.T, K1=BM25["K1"], B=BM25["B"]).T.tocsr()
    return weighted.astype(np.float32)


def summary(samples: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "samples_s": samples}


def compare(
    data: InteractionData, weighting: str, raw_matrix: sp.csr_matrix, repeat: int
) -> dict[str, Any]:
    """Interleaved raw and Timbre fits; medians, ratio and a factor check."""
    raw_times: list[float] = []
    timbre_times: list[float] = []
    raw_cpu: list[float] = []
    timbre_cpu: list[float] = []
    raw_model = timbre_model = None
    for _ in range(repeat):
        seconds, raw_model = timed(lambda: raw_fit(raw_matrix))
        raw_times.append(seconds)
        raw_cpu.append(CPU_SECONDS[-1])
        seconds, timbre_model = timed(lambda: timbre_fit(data, weighting))
        timbre_times.append(seconds)
        timbre_cpu.append(CPU_SECONDS[-1])
    assert raw_model is not None and timbre_model is not None
    raw_median = statistics.median(raw_times)
    timbre_median = statistics.median(timbre_times)
    ratio = timbre_median / raw_median
    raw_items = np.asarray(raw_model.item_factors, dtype=np.float32)
    same = bool(np.allclose(timbre_model.item_factors_, raw_items, rtol=RTOL, atol=ATOL))
    return {
        "weighting": weighting,
        "repeat": repeat,
        "raw": {**summary(raw_times), "cpu_samples_s": raw_cpu},
        "timbre": {**summary(timbre_times), "cpu_samples_s": timbre_cpu},
        "ratio": ratio,
        # Robust to load from other processes that varies during the run: pairwise ratios.
        "paired_ratio_median": statistics.median(
            t / r for t, r in zip(timbre_times, raw_times, strict=True)
        ),
        "target": f"ratio <= {TARGET_RATIO:.2f}",
        "meets_target": ratio <= TARGET_RATIO,
        "same_item_factors": same,
        "max_abs_factor_diff": float(np.max(np.abs(timbre_model.item_factors_ - raw_items))),
    }


def bench_dataset(
    data: InteractionData, load_seconds: float, repeat: int, warmup: bool = False
) -> dict[str, Any]:
    """Every comparison on one data set (the fingerprint is hashed before any timing)."""
    fingerprint_seconds, _ = timed(lambda: data.fingerprint)
    matrix = data.user_items
    if warmup:  # untimed: first calls pay thread-pool start-up and allocator growth
        raw_fit(matrix)
        timbre_fit(data, "none")
    result: dict[str, Any] = {
        "dataset": data.dataset,
        "users": data.n_users,
        "items": data.n_items,
        "nnz": data.nnz,
        "load_seconds": load_seconds,
        "fingerprint_seconds": fingerprint_seconds,
    }
    result["none"] = compare(data, "none", matrix, repeat)
    result["none"]["factor_check"] = f"np.allclose(item_factors, rtol={RTOL}, atol={ATOL})"
    weighting_times = [timed(lambda: weight_matrix(matrix, "bm25", **BM25))[0] for _ in range(3)]
    raw_weighting_times = []
    for _ in range(3):
        seconds, weighted = timed(lambda: raw_bm25(matrix))
        raw_weighting_times.append(seconds)
    bm25 = compare(data, "bm25", weighted, repeat)
    bm25["weighting_step"] = {
        "timbre_weight_matrix": summary(weighting_times),
        "raw_bm25_weight": summary(raw_weighting_times),
    }
    # Timbre does the weighting inside fit; against raw + its own weighting it is the same work.
    same_work = bm25["raw"]["median_s"] + statistics.median(raw_weighting_times)
    bm25["ratio_including_raw_weighting"] = bm25["timbre"]["median_s"] / same_work
    result["bm25"] = bm25
    return result


def bench_defaults(data: InteractionData, repeat: int) -> dict[str, Any]:
    """Training time of ``create_model("als").fit(data)`` (Timbre's defaults)."""
    samples = [timed(lambda: create_model("als").fit(data))[0] for _ in range(repeat)]
    median = statistics.median(samples)
    return {
        "params": create_model("als").get_params(),
        "repeat": repeat,
        **summary(samples),
        "target": f"median < {TARGET_DEFAULT_SECONDS:g} s",
        "meets_target": median < TARGET_DEFAULT_SECONDS,
    }


def load_hetrec(home: Path) -> tuple[InteractionData, float, bool]:
    """The demo data set from a store under ``home`` (loading the demo there if missing)."""
    with Store.open(Settings(home=home)) as store:
        loaded_now = not demo_is_loaded(store)
        if loaded_now:
            load_demo(store)
        seconds, data = timed(lambda: load_data(store, DEMO_DATASET))
    return data, seconds, loaded_now


def synthetic(
    nnz: int, users: int = 50_000, items: int = 20_000, seed: int = 42
) -> InteractionData:
    """``nnz`` distinct (user, item) pairs: log-normal user activity, Zipf-like item popularity
    (exponent 0.9), play counts 1..50; all from a seeded generator."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, users)
    user_p = activity / activity.sum()
    item_p = 1.0 / np.arange(1, items + 1) ** 0.9
    item_p = rng.permutation(item_p / item_p.sum())  # popular items not all at low indices
    pairs = np.empty(0, dtype=np.int64)
    while len(pairs) < nnz:
        draw = int((nnz - len(pairs)) * 1.3) + 1000
        u = rng.choice(users, size=draw, p=user_p)
        i = rng.choice(items, size=draw, p=item_p)
        pairs = np.unique(np.concatenate([pairs, u * items + i]))
    pairs = rng.choice(pairs, size=nnz, replace=False)
    plays = rng.integers(1, 51, size=nnz)
    matrix = build_matrix(pairs // items, pairs % items, plays, (users, items))
    user_ids = [f"synthetic:user:{n}" for n in range(users)]
    item_ids = [f"synthetic:artist:{n}" for n in range(items)]
    return InteractionData(
        dataset="synthetic",
        users=Vocabulary(user_ids, "user"),
        items=Vocabulary(item_ids, "item"),
        user_items=matrix,
        item_meta=pd.DataFrame(
            {"key": item_ids, "name": item_ids, "kind": "artist", "artist": None}
        ),
    )


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "implicit": version("implicit"),
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "blas": [
            {k: api.get(k) for k in ("internal_api", "num_threads", "version")}
            for api in threadpool_info()
            if api.get("user_api") == "blas"
        ],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\nmachine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs")
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    print("medians; paired = median of per-pair timbre/raw ratios")
    for ds in result["datasets"]:
        print(
            f"\n{ds['dataset']}: {ds['users']:,} users x {ds['items']:,} items, "
            f"nnz {ds['nnz']:,}; load {ds['load_seconds']:.3f} s, "
            f"fingerprint {ds['fingerprint_seconds']:.4f} s"
        )
        print(
            f"  {'weighting':<10}{'raw (s)':>10}{'timbre (s)':>12}{'ratio':>8}{'paired':>8}"
            "  target  factors"
        )
        for key in ("none", "bm25"):
            row = ds[key]
            check = "same" if row["same_item_factors"] else "DIFFER"
            print(
                f"  {key:<10}{row['raw']['median_s']:>10.3f}{row['timbre']['median_s']:>12.3f}"
                f"{row['ratio']:>8.3f}{row['paired_ratio_median']:>8.3f}"
                f"  {'ok' if row['meets_target'] else 'MISSED':<6}  {check}"
            )
        step = ds["bm25"]["weighting_step"]
        print(
            f"  bm25 weighting step: timbre {step['timbre_weight_matrix']['median_s']:.4f} s, "
            f"raw {step['raw_bm25_weight']['median_s']:.4f} s; Timbre vs raw fit + raw "
            f"weighting: {ds['bm25']['ratio_including_raw_weighting']:.3f}"
        )
        if "defaults" in ds:
            d = ds["defaults"]
            print(
                f"  ALS with Timbre defaults: median {d['median_s']:.3f} s "
                f"({d['target']}: {'ok' if d['meets_target'] else 'MISSED'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, help="fits per variant (default 5 for HetRec, 3 for synthetic)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output ({RESULTS})")
    parser.add_argument(
        "--home", type=Path, help="reuse this Timbre home (the demo is loaded there if missing)"
    )
    parser.add_argument(
        "--synthetic-nnz", type=int, default=2_000_000, help="non-zeros of the synthetic matrix"
    )
    parser.add_argument(
        "--skip-synthetic", action="store_true", help="only benchmark the HetRec demo"
    )
    args = parser.parse_args()
    hetrec_repeat = args.repeat or 5
    synthetic_repeat = args.repeat or 3

    load_before = os.getloadavg()
    with ExitStack() as stack:
        home = args.home or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print(f"loading the HetRec demo under {home} ...", flush=True)
        hetrec, load_seconds, loaded_now = load_hetrec(home)

    datasets = []
    print(f"HetRec: {hetrec.nnz:,} non-zeros, {hetrec_repeat} fits per variant ...", flush=True)
    ds = bench_dataset(hetrec, load_seconds, hetrec_repeat, warmup=True)
    ds["demo_loaded_by_benchmark"] = loaded_now
    ds["defaults"] = bench_defaults(hetrec, hetrec_repeat)
    datasets.append(ds)

    if not args.skip_synthetic:
        print(f"building the synthetic matrix ({args.synthetic_nnz:,} non-zeros) ...", flush=True)
        build_seconds, data = timed(lambda: synthetic(args.synthetic_nnz))
        print(f"synthetic: {synthetic_repeat} fits per variant ...", flush=True)
        ds = bench_dataset(data, build_seconds, synthetic_repeat)
        ds["load_seconds_note"] = "generating the matrix and building InteractionData"
        datasets.append(ds)

    comparisons = [ds[key] for ds in datasets for key in ("none", "bm25")]
    result = {
        "benchmark": "Timbre ALS fit vs raw implicit ALS fit on the same CSR matrix",
        "machine": machine(),
        # 1/5/15-minute load averages: other processes on the machine skew the timings.
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "als_params": ALS_PARAMS,
        "bm25": BM25,
        "target": f"ratio <= {TARGET_RATIO:.2f}",
        "meets_target": all(c["meets_target"] for c in comparisons),
        "all_factors_same_none": all(ds["none"]["same_item_factors"] for ds in datasets),
        "datasets": datasets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
