"""The README's accuracy table: HetRec 2K, per-user 80/20 hold-out, seeds 0-4, K = 10.

Nested validation, equal budget: for each seed the outer split's training part is split again
(same protocol, seed + 1000) into a validation split; every model family is tuned there with the
same budget (at most ``--budget`` configurations drawn at random from the family's declared
search space, ``Recommender.search_space``), the chosen configuration is refitted on the whole
training part and measured once on the test split. Two hybrids (CF = ALS or EASE with that
seed's tuned parameters, content from the training part only) have their fusion weights tuned
the same way. "best on validation" is, per seed, the row whose validation NDCG@10 was highest,
measured on test: the best Timbre configuration chosen without the test split. Each family's
defaults are measured on the same test splits for comparison.

Run: ``.venv/bin/python -m benchmarks.accuracy [--home DIR] [--seeds 0,1,2,3,4] [--budget 12]
[--jobs 2]`` (seeds run in parallel processes, one BLAS thread each).
Writes ``benchmarks/results/accuracy.json`` and ``benchmarks/results/accuracy.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.common import demo_data
from timbre.evaluation import (
    LIST_METRICS,
    RANKING_METRICS,
    ModelResult,
    SplitSpec,
    SweepSpec,
    comparisons,
    holm,
    run_experiment,
    sweep,
)
from timbre.interactions import InteractionData
from timbre.models import MODELS
from timbre.services.experiments import factory_for

RESULTS = Path(__file__).resolve().parent / "results"
#: The hybrid's fusion-weight search (cf fixed at 1, so the others are relative to it).
HYBRID_GRID: dict[str, list[Any]] = {
    "content": [0.0, 0.1, 0.2, 0.3, 0.5, 0.8],
    "novelty": [0.0, 0.05],
    "normalization": ["minmax", "zscore"],
}
HYBRID_FIXED = {"cf": 1.0, "personality": 0.0, "diversity": 0.0}
SHOWN = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage", "novelty")


@dataclass
class SeedOutcome:
    """One seed: each row's test result and the configurations chosen on validation."""

    results: dict[str, ModelResult]
    chosen: dict[str, dict[str, Any]]
    validation_ndcg: dict[str, float]


#: The hybrids tuned: their CF family (with that seed's tuned parameters) and the row name.
HYBRIDS = {"hybrid (ALS)": "als", "hybrid (EASE)": "ease"}
BEST = "best on validation"


def run_seed(data: InteractionData, seed: int, budget: int) -> SeedOutcome:
    """Tune every family and the hybrids on this seed's validation split, test each once;
    the row the validation split ranks first is also reported as :data:`BEST`."""
    split = SplitSpec(test_fraction=0.2, seed=seed)
    outcome = SeedOutcome({}, {}, {})

    def tune(name: str, spec: SweepSpec) -> None:
        result = sweep(data, spec, make=factory_for(spec))
        outcome.results[name] = result.test
        outcome.chosen[name] = {k: v for k, v in result.best.items() if k in spec.grid}
        outcome.validation_ndcg[name] = result.best_validation["ndcg"]

    for family in MODELS:
        space = MODELS[family].search_space()
        tune(family, SweepSpec(family, space, budget=budget, mode="random", split=split))
    for name, family in HYBRIDS.items():
        cf = {f"cf.{k}": v for k, v in outcome.chosen[family].items()}
        base = {"cf_model": family, **HYBRID_FIXED, **cf}
        tune(name, SweepSpec("hybrid", HYBRID_GRID, base, budget, "random", split=split))
    best = max(outcome.validation_ndcg, key=outcome.validation_ndcg.__getitem__)
    outcome.results[BEST] = outcome.results[best]
    outcome.chosen[BEST] = {"row": best}
    defaults = run_experiment(data, {f"{f}:defaults": {} for f in MODELS}, split, k=10)
    outcome.results.update(defaults.results)
    return outcome


_DATA: list[InteractionData] = []


def _run_seed(seed: int, budget: int) -> SeedOutcome:
    threadpool_limits(1, "blas")  # implicit's advice; every family fits with one BLAS thread
    return run_seed(_DATA[0], seed, budget)


def _pooled(results: list[ModelResult], seeds: list[int]) -> ModelResult:
    """One seed-tagged per-user frame over every seed, for paired tests over (seed, user)."""
    frames = []
    for result, seed in zip(results, seeds, strict=True):
        frame = result.per_user.copy()
        frame.index = pd.MultiIndex.from_product([[seed], frame.index])
        frames.append(frame)
    first = results[0]
    return ModelResult(
        first.name, first.model, first.params, pd.concat(frames), first.summary,
        first.recommended, first.scores, first.users, 0.0, 0.0,
    )  # fmt: skip


def summarise(
    outcomes: Mapping[int, SeedOutcome],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Mean ± sd over seeds per row and metric; paired tests of every row against the best
    tuned row on per-user NDCG pooled over the seeds (Holm over the comparisons)."""
    seeds = list(outcomes)
    names = list(outcomes[seeds[0]].results)
    table: dict[str, dict[str, Any]] = {}
    for name in names:
        runs = [outcomes[s].results[name] for s in seeds]
        table[name] = {}
        for metric in (*RANKING_METRICS, *LIST_METRICS, "fit_seconds"):
            values = np.array(
                [r.fit_seconds if metric == "fit_seconds" else r.summary[metric] for r in runs]
            )
            table[name][metric] = {
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "values": values.tolist(),
            }
    tuned = [n for n in names if not n.endswith(":defaults") and n != BEST]
    best = max(tuned, key=lambda n: table[n]["ndcg"]["mean"])
    pooled = {n: _pooled([outcomes[s].results[n] for s in seeds], seeds) for n in names}
    order = {best: pooled[best], **{n: pooled[n] for n in names if n not in (best, BEST)}}
    pairs = comparisons(order, "ndcg")
    against = pairs[pairs["a"] == best].copy()
    against["holm_over"] = len(against)
    against["wilcoxon_p_holm"] = holm(against["wilcoxon_p"].to_numpy())
    tests = {"best": best, "rows": against.drop(columns=["t_p_holm"]).to_dict("records")}
    return table, tests


def markdown(table: Mapping[str, Any], tests: Mapping[str, Any]) -> str:
    """The README table: mean ± sd over seeds, NDCG vs popularity, the paired test vs best."""
    popularity = table["popularity"]["ndcg"]["mean"]
    by_row = {r["b"]: r for r in tests["rows"]}
    head = [f"{m}@10" if m in RANKING_METRICS else m for m in SHOWN]
    lines = [
        "| model | " + " | ".join(head) + " | NDCG vs popularity | vs best (ΔNDCG, Holm p) |",
        "|---" * (len(SHOWN) + 3) + "|",
    ]
    for name, metrics in table.items():
        cells = [f"{metrics[m]['mean']:.4f} ± {metrics[m]['sd']:.4f}" for m in SHOWN]
        ratio = metrics["ndcg"]["mean"] / popularity
        row = by_row.get(name)
        if name == BEST:
            versus = "(per seed, the row ranked first on validation)"
        elif row is None:
            versus = "best"
        else:
            versus = f"{-row['mean_difference']:+.4f}, p={row['wilcoxon_p_holm']:.2g}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}x | {versus} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a Timbre home with the demo (default: a new one)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=int, default=12, help="configurations per family")
    parser.add_argument("--jobs", type=int, default=2, help="seeds run in parallel")
    parser.add_argument("--out", default=str(RESULTS / "accuracy.json"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = demo_data(args.home)
    started = time.perf_counter()
    outcomes: dict[int, SeedOutcome] = {}
    _DATA.append(data)  # the forked workers inherit it
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {pool.submit(_run_seed, seed, args.budget): seed for seed in seeds}
        for future in as_completed(futures):
            seed = futures[future]
            outcomes[seed] = future.result()
            ndcg = {n: round(r.summary["ndcg"], 4) for n, r in outcomes[seed].results.items()}
            print(f"seed {seed} ({time.perf_counter() - started:.0f} s): {ndcg}", flush=True)
            print(f"  chosen: {outcomes[seed].chosen}", flush=True)
    outcomes = dict(sorted(outcomes.items()))
    table, tests = summarise(outcomes)
    protocol = {
        "split": "user-holdout", "test_fraction": 0.2, "seeds": seeds, "k": 10,
        "validation": "carved from each seed's training part (same protocol, seed + 1000)",
        "budget": args.budget, "search": "random sample of each family's search_space",
        "hybrid_grid": HYBRID_GRID, "hybrid_fixed": HYBRID_FIXED,
    }  # fmt: skip
    payload = {
        "data": "HetRec 2011 Last.fm 2K (demo)",
        "protocol": protocol,
        "chosen": {s: o.chosen for s, o in outcomes.items()},
        "validation_ndcg": {s: o.validation_ndcg for s, o in outcomes.items()},
        "models": table,
        "paired_vs_best": tests,
        "best_on_validation_vs_tuned_ease": table[BEST]["ndcg"]["mean"]
        / table["ease"]["ndcg"]["mean"],
        "seconds": time.perf_counter() - started,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    text = markdown(table, tests)
    out.with_suffix(".md").write_text(text)
    print(text)
    ratio = payload["best_on_validation_vs_tuned_ease"]
    print(f"best on validation / tuned EASE, NDCG@10 on test: {ratio:.3f}")
    print(f"total {payload['seconds']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
