"""How long a 200 x 200 similarity heatmap takes, from a trained ALS model on the demo.

With an ALS model trained (Timbre's defaults, untimed) on HetRec 2011 Last.fm 2K and its item
space built once (as the app caches it), each repeat times, for the 200 most popular artists
(and, separately, the 200 most active users):

* the whole pipeline the Similarity page runs per view: ``select`` + ``similarity_matrix``
  (200 x 200 cosine, clustering with optimal leaf order, labels) + ``plots.similarity_heatmap``
  + ``Figure.to_json()`` (what Streamlit sends to the browser);
* each step on its own;
* the reference, in the same run: the raw 200 x 200 product of the unit factor rows
  (``F[rows] @ F[rows].T``), the least any heatmap of this model needs.

Reports medians, the ratio of the pipeline to the reference and the absolute time (target:
under 1 s). Run: ``.venv/bin/python -m benchmarks.bench_heatmap [--repeat N] [--home DIR]``.
Writes ``benchmarks/results/heatmap.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import demo_data
from timbre import plots
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.similarity import cluster_order, select
from timbre.similarity import similarity_matrix as make_matrix
from timbre.spaces import VectorSpace, build_space

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "heatmap.json"
SIZE = 200
CLUSTERS = 8
TARGET_SECONDS = 1.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_of(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    samples = [timed(fn)[0] for _ in range(repeat)]
    return {"median_s": statistics.median(samples), "min_s": min(samples), "samples_s": samples}


def pipeline(data: InteractionData, space: VectorSpace) -> str:
    """What the page does for one view of the heatmap; returns the figure's JSON."""
    selection = select(data, space, "top", SIZE)
    matrix = make_matrix(data, space, selection, CLUSTERS)
    fig = plots.similarity_heatmap(
        matrix.values, matrix.labels, matrix.clusters, measure=matrix.measure, clickable=True
    )
    return str(fig.to_json())


def bench_kind(data: InteractionData, space: VectorSpace, repeat: int) -> dict[str, Any]:
    """The pipeline, its steps and the reference for one kind (items or users)."""
    pipeline(data, space)  # warm-up (imports, allocator)
    selection = select(data, space, "top", SIZE)
    rows = selection.indices
    unit = np.asarray(space.vectors)
    values = space.similarity(rows)
    matrix = make_matrix(data, space, selection, CLUSTERS)
    fig = plots.similarity_heatmap(
        matrix.values, matrix.labels, matrix.clusters, measure=matrix.measure, clickable=True
    )
    # interleave pipeline and reference so that load from other processes hits both alike
    whole: list[float] = []
    reference: list[float] = []
    for _ in range(repeat):
        whole.append(timed(lambda: pipeline(data, space))[0])
        reference.append(timed(lambda: unit[rows] @ unit[rows].T)[0])
    total = statistics.median(whole)
    ref = statistics.median(reference)
    return {
        "kind": space.kind,
        "rows": len(rows),
        "pipeline": {"median_s": total, "min_s": min(whole), "samples_s": whole},
        "reference_raw_product": {"median_s": ref, "min_s": min(reference)},
        "ratio_to_reference": total / ref,
        "steps": {
            "select_top": median_of(lambda: select(data, space, "top", SIZE), repeat),
            "similarity_200x200": median_of(lambda: space.similarity(rows), repeat),
            "cluster_order": median_of(lambda: cluster_order(values, CLUSTERS), repeat),
            "similarity_matrix_total": median_of(
                lambda: make_matrix(data, space, selection, CLUSTERS), repeat
            ),
            "figure": median_of(
                lambda: plots.similarity_heatmap(
                    matrix.values, matrix.labels, matrix.clusters, measure="cosine"
                ),
                repeat,
            ),
            "figure_to_json": median_of(lambda: fig.to_json(), repeat),
        },
        "figure_json_bytes": len(fig.to_json()),
        "clusters": matrix.n_clusters,
        "target": f"pipeline median < {TARGET_SECONDS:g} s",
        "meets_target": total < TARGET_SECONDS,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "plotly": version("plotly"),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=21, help="timed repeats (default 21)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output ({RESULTS})")
    parser.add_argument(
        "--home", type=Path, help="reuse this Timbre home (the demo is loaded there if missing)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"loading the HetRec demo (home: {args.home or 'a throwaway one'}) ...", flush=True)
    load_seconds, data = timed(lambda: demo_data(str(args.home) if args.home else None))
    model = create_model("als")
    fit_seconds, _ = timed(lambda: model.fit(data))
    kinds = []
    for kind in ("items", "users"):
        build_seconds, space = timed(lambda kind=kind: build_space(data, kind, "als", model))
        print(f"{kind}: {args.repeat} repeats ...", flush=True)
        result = bench_kind(data, space, args.repeat)
        result["space_build_s"] = build_seconds
        kinds.append(result)
    output = {
        "benchmark": "200 x 200 similarity heatmap (matrix + clustering + plotly figure) from ALS",
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "dataset": {
            "name": data.dataset,
            "users": data.n_users,
            "items": data.n_items,
            "nnz": data.nnz,
            "load_s": load_seconds,
            "load_note": "reading the store; loading the demo first when the home lacks it",
        },
        "model": {"name": "als", "params": model.get_params(), "fit_s": fit_seconds},
        "size": SIZE,
        "clusters": CLUSTERS,
        "repeat": args.repeat,
        "target": f"pipeline median < {TARGET_SECONDS:g} s",
        "meets_target": all(k["meets_target"] for k in kinds),
        "kinds": kinds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    print(f"\nALS fit {fit_seconds:.2f} s; medians of {args.repeat} repeats")
    print(f"{'kind':<6}{'pipeline (s)':>14}{'raw product (s)':>17}{'ratio':>9}  target")
    for k in kinds:
        print(
            f"{k['kind']:<6}{k['pipeline']['median_s']:>14.4f}"
            f"{k['reference_raw_product']['median_s']:>17.6f}{k['ratio_to_reference']:>9.0f}"
            f"  {'ok' if k['meets_target'] else 'MISSED'}"
        )
        steps = ", ".join(f"{name} {s['median_s'] * 1000:.1f} ms" for name, s in k["steps"].items())
        print(f"      {steps}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
