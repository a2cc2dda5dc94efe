"""Research-scale data: import, load and cached load of synthetic power-law listening data,
each stage against its floor measured in the same run.

The data has the Last.fm 360K shape scaled down: ``rows`` (user, artist, plays) triples over
users x artists in the ratio 358k : 160k, artists drawn from a Zipf-like law (a few artists
have most listeners, as in the real data set), plays from a heavy-tailed law.

Stages (wall seconds and peak RSS of a child process each, so one stage's memory does not hide
another's):
- ``import``: ``timbre import FILE`` end to end (parse, validate, write, report);
  floor: ``sqlite3.executemany`` of the same (dataset, user, item, event, weight, ts, source)
  tuples into the same schema, indexes and foreign keys (a store with the users and items
  already in it);
- ``load``: ``load_data`` from the store (the first command after an import);
  floor: one raw ``SELECT user_id, item_id, weight`` + ``scipy.sparse`` CSR;
- ``cached``: ``load_data`` again (the matrix cache); floor: ``np.load`` of the same CSR arrays
  (each the median of ``REPEATS`` alternating runs: tens of milliseconds on a shared machine);
  what the cache leaves to first use (the ids as Python strings, the pandas frames) is timed
  apart as ``first_use_s`` (not in the ratio);
- ``recommend``: ``timbre recommend --all-users -n 50 --out FILE.parquet`` (load, engine, every
  list, the file; CPU seconds of the command, the modules' import apart) with cf-only weights
  and with every component (the defaults), after one run that builds the SVD space's cache;
  floor: implicit's batch ``recommend(userids, user_items, N=50)`` of the same ALS factors
  (CPU seconds of that call); the load average after them; then the cf-only export's peak RSS
  over an eighth, half and all of the listeners, written as it goes and held whole;
- ``pipeline`` (alone): import, ``train --model als``, the all-listeners Parquet export and the
  200 x 200 item heatmap matrix, each stage's wall seconds and peak RSS (the 17.5M-row run:
  ``--rows 17500000 --stages pipeline``);
- ``ann`` (alone): exact against approximate similar items at 160k items (``--ann-items``):
  recall@50, milliseconds a query, the index's build, exact search's cost by catalogue size;
  and the hybrid's top-50 with its pool from the index against the exact one for 300
  listeners (default and cf-only weights): recall@50, each listed item's fused score, time a
  listener in batches of 100 and one at a time, and the engine's batch (the export's
  ``batch_frame``) over 2,000 listeners.

Run: ``.venv/bin/python -m benchmarks.bench_scale [--rows 500000 2000000] [--stages ...]
[--out FILE]``. Writes ``benchmarks/results/scale.json`` (import, load, cached and recommend
with the default stages) or ``scale_ann.json`` (ann), as the README's table cites them.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.rss import RSS_CODE

RESULTS = Path(__file__).resolve().parent / "results"
#: Users and items of Last.fm 360K (the shape the synthetic data is scaled from).
SHAPE = (358_000, 160_000, 17_500_000)
#: What can be measured (``--stages``); the import always runs (every other stage needs it).
STAGES = ("import", "load", "cached", "recommend", "pipeline")
#: Alternating runs of the cached load and its floor (each a fresh process), median reported.
REPEATS = 5


def synthetic_csv(path: Path, rows: int, seed: int = 0) -> tuple[int, int]:
    """Write ``user,artist,plays`` rows with the 360K shape at ``rows`` rows; (users, items)."""
    rng = np.random.default_rng(seed)
    scale = rows / SHAPE[2]
    n_users = max(100, int(SHAPE[0] * scale))
    n_items = max(100, int(SHAPE[1] * scale**0.8))
    per_user = max(1, rows // n_users)
    users = np.repeat(np.arange(n_users), per_user)[:rows]
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=len(users), p=popularity / popularity.sum())
    pairs = np.unique(users.astype(np.int64) * n_items + items)
    plays = np.minimum(rng.pareto(1.2, size=len(pairs)) * 10 + 1, 50_000).astype(np.int64)
    with path.open("w", encoding="utf-8") as out:
        out.write("user,artist,plays\n")
        for start in range(0, len(pairs), 200_000):
            part = pairs[start : start + 200_000]
            lines = [
                f"u{u},artist {i},{p}\n"
                for u, i, p in zip(part // n_items, part % n_items, plays[start:], strict=False)
            ]
            out.writelines(lines)
    return len(np.unique(pairs // n_items)), len(np.unique(pairs % n_items))


def _child(code: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its printed JSON plus wall seconds and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(wall, 2)
    return result


_RSS = RSS_CODE  # the child's own peak (not ru_maxrss, which a child inherits)

IMPORT = f"""
import json, time
from pathlib import Path
from timbre.cli import main
t = time.perf_counter()
code = main(["--home", HOME, "import", CSV, "--dataset", "scale"])
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""

LOAD = f"""
import json, time
from timbre.config import Settings
from timbre.services.data import load_data
from timbre.store import Store
from pathlib import Path
store = Store.open(Settings(home=Path(HOME)))
t = time.perf_counter()
data = load_data(store, "scale")
seconds = time.perf_counter() - t
# what the matrix cache leaves to first use (the ids as strings, the frames), timed apart
t = time.perf_counter()
used = (len(data.users.ids), len(data.items.ids), len(data.item_meta), data.tag_weights)
first_use = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 4), "first_use_s": round(first_use, 4),
                  "rss_mb": round(rss), "nnz": data.nnz}}))
"""

RAW_SELECT = f"""
import json, sqlite3, time
import numpy as np, scipy.sparse as sp
t = time.perf_counter()
db = sqlite3.connect(DB)
query = "SELECT user_id, item_id, weight FROM interactions WHERE dataset_id = 1"
rows = db.execute(query).fetchall()
u, i, w = (np.asarray(c) for c in zip(*rows))
_, uu = np.unique(u, return_inverse=True)
_, ii = np.unique(i, return_inverse=True)
m = sp.csr_matrix((w.astype(np.float32), (uu, ii)))
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 4), "rss_mb": round(rss), "nnz": int(m.nnz)}}))
"""

NP_LOAD = f"""
import json, time, glob
import numpy as np, scipy.sparse as sp
t = time.perf_counter()
(path,) = glob.glob(HOME + "/cache/matrix/*/matrix.npz")
with np.load(path) as a:
    m = sp.csr_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(a["shape"]))
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 4), "rss_mb": round(rss), "nnz": int(m.nnz)}}))
"""


TRAIN = f"""
import json, time
from timbre.cli import main
t = time.perf_counter()
code = main(["--home", HOME, "train", "--model", "als", "--dataset", "scale"])
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""

#: ``timbre recommend --all-users -n 50`` as the user runs it: load (the matrix cache), the
#: engine, every list, the file. CPU seconds of the command (``time.process_time``: this
#: process, both cores' worth); the interpreter's start and the modules' import (the same at
#: any size) are measured apart (``import_cpu_s``), as the floor's are not counted either.
RECOMMEND = f"""
import json, time
c = time.process_time()
import timbre.cli, timbre.cli.recommend, timbre.export, timbre.hybrid, timbre.services.engines
imports = time.process_time() - c
from timbre.cli import main
argv = ["--home", HOME, "recommend", "--all-users", "-n", "50", "--dataset", "scale",
        "--out", OUT, *WEIGHTS]
t, c = time.perf_counter(), time.process_time()
code = main(argv)
cpu, seconds = time.process_time() - c, time.perf_counter() - t
{_RSS}
print(json.dumps({{"cpu_s": round(cpu, 2), "import_cpu_s": round(imports, 2),
                  "seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""

#: The floor: implicit's batch ``recommend`` of the same ALS factors for every user, heard items
#: filtered (CPU seconds of that call alone).
IMPLICIT_RECOMMEND = f"""
import json, time
import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from timbre.config import Settings
from timbre.models.base import one_blas_thread
from timbre.services.data import load_data
from timbre.services.runs import choose_run, load_run
from timbre.store import Store
with Store.open(Settings(home=__import__("pathlib").Path(HOME))) as store:
    data = load_data(store, "scale")
    model = load_run(choose_run(store, "scale"), data)
with one_blas_thread():
    als = AlternatingLeastSquares(factors=model.user_factors_.shape[1])
    als.user_factors, als.item_factors = model.user_factors_, model.item_factors_
    users = np.arange(data.n_users)
    c = time.process_time()
    ids, scores = als.recommend(users, data.user_items[users], N=50)
    cpu = time.process_time() - c
{_RSS}
print(json.dumps({{"cpu_s": round(cpu, 2), "rss_mb": round(rss), "rows": int(ids.size)}}))
"""
#: Peak RSS of the cf-only export over the first ``USERS`` listeners, written as it goes
#: (``batch_frames`` into ``write_table_stream``, what ``recommend --all-users --out`` does) or
#: held whole first (``batch_frame`` then ``write_table``: what the export did before, and
#: still does for ``--json``); the RSS before ranking (data, model, engine) apart.
EXPORT_RSS = f"""
import json, resource
from pathlib import Path
from timbre import hybrid
from timbre.config import Settings
from timbre.export import write_table, write_table_stream
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.runs import choose_run
from timbre.store import Store
with Store.open(Settings(home=Path(HOME))) as store:
    data = load_data(store, "scale")
    engine = engine_for_run(store, data, choose_run(store, "scale"), "minmax", "svd", None)
{_RSS}
before = rss
users, weights = range(min(USERS, data.n_users)), hybrid.preset("cf-only")
if MODE == "streamed":
    rows = write_table_stream(hybrid.batch_frames(engine, users, weights, 50), OUT, ["rss"])
else:
    frame = hybrid.batch_frame(engine, users, weights, 50)
    rows = len(frame)
    write_table(frame, OUT, ["rss"])
{_RSS}
print(json.dumps({{"listeners": len(users), "rows": rows, "rss_before_mb": round(before),
                  "rss_mb": round(rss)}}))
"""
#: Shares of the listeners the export's RSS is measured over (``recommend`` stage).
RSS_SHARES = (0.125, 0.5, 1.0)
#: The weight mixes of the recommend stage: cf only, and every component (the defaults).
MIXES = {"cf_only": ["--preset", "cf-only"], "all": ["--preset", "default"]}


#: The research pipeline a user runs on a fresh data set, one command a stage (``--stages
#: pipeline``): all-listeners Parquet export with the default weights, then the 200 x 200
#: item-item heatmap's matrix (ALS space, clustered) as the Similarity page builds it.
PIPELINE_EXPORT = f"""
import json, time
from timbre.cli import main
t = time.perf_counter()
code = main(["--home", HOME, "recommend", "--all-users", "-n", "50", "--dataset", "scale",
             "--out", OUT])
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""

PIPELINE_HEATMAP = f"""
import json, time
from timbre.cli import main
t = time.perf_counter()
code = main(["--home", HOME, "similarity", "--kind", "items", "--space", "als", "--top", "200",
             "--dataset", "scale", "--out", OUT])
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""


#: Inverted lists probed, measured in the ``ann`` stage (the default :data:`NPROBE` among them).
PROBES = (16, 32, 64, 128, 256, 512)


def run_ann(items: int = SHAPE[1], users: int = 20_000, per_user: int = 50) -> dict[str, Any]:
    """Exact against approximate similar items on an ALS model over ``items`` items (the 360K
    catalogue: 160k), trained on synthetic power-law listening; recall@50 over 300 query items
    with at least 5 listeners, per-query milliseconds, the index's build, and exact search's
    cost by catalogue size (where it stops being cheap: the threshold)."""
    import pandas as pd

    from timbre.interactions import InteractionData
    from timbre.models import ann, create_model

    rng = np.random.default_rng(1)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.7
    chosen = rng.choice(items, size=users * per_user, p=popularity / popularity.sum())
    pairs = np.unique(np.repeat(np.arange(users), per_user).astype(np.int64) * items + chosen)
    frame = pd.DataFrame(
        {
            "user_key": pairs // items,
            "item_key": pairs % items,
            "weight": 1.0 + rng.pareto(1.2, len(pairs)),
        }
    ).astype({"user_key": str, "item_key": str})
    keys = pd.DataFrame({"key": sorted(frame["item_key"].unique())})
    data = InteractionData.from_frames(frame, keys, "ann")
    started = time.perf_counter()
    model = create_model("als", {"factors": 64, "iterations": 8}).fit(data)
    fit = time.perf_counter() - started
    queries = rng.choice(np.flatnonzero(data.listeners >= 5), 300, replace=False)
    saved = ann.ANN_MIN_ITEMS
    try:
        ann.ANN_MIN_ITEMS = data.n_items + 1  # exact
        started = time.perf_counter()
        exact = [model.similar_items(int(i), 50).items for i in queries]
        exact_ms = (time.perf_counter() - started) / len(queries) * 1e3
        ann.ANN_MIN_ITEMS = 0  # approximate
        started = time.perf_counter()
        model.similar_candidates(int(queries[0]), 51)  # builds the index
        build = time.perf_counter() - started
        index = model.__dict__["_ann_index"]
        probes = {}
        for nprobe in PROBES:
            index._index.nprobe = min(nprobe, index._index.nlist)
            started = time.perf_counter()
            found = [model.similar_items(int(i), 50).items for i in queries]
            ms = (time.perf_counter() - started) / len(queries) * 1e3
            got = np.mean([len(set(a) & set(b)) / 50 for a, b in zip(found, exact, strict=True)])
            probes[str(nprobe)] = {
                "recall_at_50": round(float(got), 4),
                "ms_per_query": round(ms, 3),
            }
            if nprobe == ann.NPROBE:
                approximate, ann_ms = found, ms
    finally:
        ann.ANN_MIN_ITEMS = saved
    recall = np.mean([len(set(a) & set(b)) / 50 for a, b in zip(approximate, exact, strict=True)])
    by_size = {}
    for size in (10_000, 20_000, 50_000, 100_000, data.n_items):
        columns = np.arange(min(size, data.n_items))
        started = time.perf_counter()
        for i in queries[:100]:
            sims = model.similarity_to(int(i) % len(columns), columns)
            np.argpartition(-np.nan_to_num(sims, nan=-np.inf), 50)[:51]
        by_size[str(len(columns))] = round((time.perf_counter() - started) / 100 * 1e3, 3)
    hybrid = run_hybrid_pool(data, model, rng)
    return {
        "items": data.n_items,
        "users": data.n_users,
        "nnz": data.nnz,
        "als_fit_s": round(fit, 1),
        "recall_at_50": round(float(recall), 4),
        "exact_ms_per_query": round(exact_ms, 3),
        "ann_ms_per_query": round(ann_ms, 3),
        "index_build_s": round(build, 1),
        "lists": int(index._index.nlist),
        "by_nprobe": probes,
        "exact_ms_by_catalogue_size": by_size,
        "threshold_items": ann.ANN_MIN_ITEMS,
        "hybrid_pool": hybrid,
    }


def run_hybrid_pool(data: Any, model: Any, rng: np.random.Generator) -> dict[str, Any]:
    """The hybrid's lists with the pool from the index against exact ones (same model, same
    listeners): recall@50, the largest difference of a listed item's component contributions,
    listeners shown complete, time a listener (batches of 100; one at a time through
    ``rank``), and ``batch_frame`` (what the export ranks through) over 2,000 listeners."""
    from timbre.hybrid import PRESETS, HybridEngine
    from timbre.hybrid import pool as index_pool

    exact = HybridEngine(data, model, ann_min_items=data.n_items + 1)
    from timbre.models import ann

    # the default threshold (50,000 items) at 160k; a smaller run (a test) pools anyway
    pooled = HybridEngine(data, model, ann_min_items=min(ann.ANN_MIN_ITEMS, data.n_items))
    state = index_pool.state_of(pooled)
    started = time.perf_counter()
    index = state.index  # builds the inner-product index
    build = time.perf_counter() - started
    for engine in (exact, pooled):  # the MMR and reasons' spaces, once
        engine.rank(engine.components_for_user(0), PRESETS["default"], 50)
    users = rng.choice(data.n_users, min(300, data.n_users), replace=False)
    export_users = rng.choice(data.n_users, min(2000, data.n_users), replace=False)
    out: dict[str, Any] = {
        "listeners": len(users),
        "index_build_s": round(build, 1),
        "index_exact_head_items": len(index.head),
        "index_ranges_items": [len(rows) for rows, _ in index.ranges],
        "index_ranges_lists": [int(part._index.nlist) for _, part in index.ranges],
        "nprobe": int(index.ranges[0][1]._index.nprobe) if index.ranges else 0,
        "cf_candidates": ann.POOL_CF_CANDIDATES,
    }
    for mix in ("default", "cf-only"):
        weights = PRESETS[mix]
        lists, measured = {}, {}
        for name, engine in (("exact", exact), ("pool", pooled)):
            state.pooled = state.exact = 0
            lists[name], timings = _hybrid_lists(engine, users, weights, export_users)
            measured.update({f"{name}_{k}": v for k, v in timings.items()})
            if name == "pool":
                measured["pool_listeners_pooled"] = state.pooled
                measured["pool_listeners_ranked_exactly"] = state.exact
        out[mix] = {**_compare(lists["exact"], lists["pool"]), **measured}
    return out


def _hybrid_lists(
    engine: Any, users: Any, weights: Any, export_users: Any
) -> tuple[list[Any], dict[str, Any]]:
    """Top-50 lists of ``users`` in batches of 100 as the export makes them, and timings."""
    from timbre.hybrid import batch_frame

    data = engine.data
    found: list[Any] = []
    started = time.perf_counter()
    for start in range(0, len(users), 100):
        chunk = users[start : start + 100]
        needs = engine.needs(data.items_per_user[chunk], weights)
        members = engine.components_batch(chunk, needs=needs)
        found += engine.rank_many(members, weights, 50, reason_lists=False)
    batch = (time.perf_counter() - started) / len(users) * 1e3
    started = time.perf_counter()
    for user in users[:50].tolist():
        engine.rank(engine.components_for_user(user), weights, 50)
    one = (time.perf_counter() - started) / 50 * 1e3
    started = time.perf_counter()
    frame = batch_frame(engine, export_users, weights, 50)
    export = time.perf_counter() - started
    return found, {
        "ms_per_listener_batch_100": round(batch, 3),
        "ms_per_listener_one_at_a_time": round(one, 3),
        "batch_frame_2000_listeners_s": round(export, 2),
        "batch_frame_rows": len(frame),
    }


def _compare(exact: list[Any], pooled: list[Any]) -> dict[str, Any]:
    """Recall@50 of the pooled lists against the exact ones, identical lists, and the largest
    difference of a component's contribution for an item both list."""
    recalls, worst = [], 0.0
    for a, b in zip(exact, pooled, strict=True):
        recalls.append(len(set(a.items.tolist()) & set(b.items.tolist())) / max(len(a.items), 1))
        _, ia, ib = np.intersect1d(a.items, b.items, return_indices=True)
        for part in ("cf", "content", "personality", "novelty"):
            gap = np.abs(a.contributions[part][ia] - b.contributions[part][ib])
            worst = max(worst, float(gap.max(initial=0.0)))
    same = sum(np.array_equal(a.items, b.items) for a, b in zip(exact, pooled, strict=True))
    return {
        "recall_at_50": round(float(np.mean(recalls)), 4),
        "min_recall_at_50": round(float(np.min(recalls)), 4),
        "identical_lists": int(same),
        "max_contribution_difference": worst,
    }


def executemany_floor(db: Path, csv: Path) -> dict[str, Any]:
    """The import floor: the same interaction tuples written with ``sqlite3.executemany`` into a
    copy of the imported store's schema (users and items already present, same indexes)."""
    floor_db = db.with_name("floor.db")
    source = sqlite3.connect(db)
    target = sqlite3.connect(floor_db)
    target.execute("PRAGMA foreign_keys=ON")  # the store's constraints are part of the floor
    for (sql,) in source.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ):
        target.execute(sql)
    for table in ("datasets", "users", "items"):
        rows = source.execute(f"SELECT * FROM {table}").fetchall()
        marks = ",".join("?" * len(rows[0]))
        target.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    target.commit()
    users = dict(source.execute("SELECT key, id FROM users").fetchall())
    items = dict(source.execute("SELECT key, id FROM items").fetchall())
    source.close()
    lines = csv.read_text(encoding="utf-8").splitlines()[1:]
    tuples = []
    for line in lines:
        user, item, plays = line.split(",")
        tuples.append(
            (1, users[f"scale:user:{user}"], items[f"scale:item:{item}"], "play", float(plays),
             -1, "csv")
        )  # fmt: skip
    started = time.perf_counter()
    target.executemany(
        "INSERT INTO interactions (dataset_id, user_id, item_id, event, weight, ts, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        tuples,
    )
    target.commit()
    seconds = time.perf_counter() - started
    target.close()
    floor_db.unlink()
    return {"seconds": round(seconds, 2), "rows": len(tuples)}


def _parquet_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def run_size(rows: int, scratch: Path, stages: tuple[str, ...] = STAGES) -> dict[str, Any]:
    csv = scratch / f"scale-{rows}.csv"
    n_users, n_items = synthetic_csv(csv, rows)
    home = scratch / f"home-{rows}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    values = {"HOME": repr(str(home)), "CSV": repr(str(csv)), "DB": repr(str(home / "timbre.db"))}

    def code(template: str, **more: Any) -> str:
        given = {**values, **{k: repr(v) for k, v in more.items()}}
        return "".join(f"{k} = {v}\n" for k, v in given.items()) + template

    measured: dict[str, Any] = {"import": _child(code(IMPORT), env)}
    if stages == ("pipeline",):  # the research pipeline alone: each stage once, in order
        measured["train"] = _child(code(TRAIN), env)
        export = str(scratch / f"all-{rows}.parquet")
        measured["export"] = _child(code(PIPELINE_EXPORT, OUT=export), env)
        matrix = str(scratch / f"heatmap-{rows}.csv")
        measured["heatmap"] = _child(code(PIPELINE_HEATMAP, OUT=matrix), env)
        measured["export"]["rows"] = _parquet_rows(export)
        return {"rows": rows, "users": n_users, "items": n_items, "stages": measured}
    ratios: dict[str, float] = {}
    if "import" in stages:
        measured["import_floor"] = executemany_floor(home / "timbre.db", csv)
    measured["load"] = _child(code(LOAD), env)
    if "load" in stages:
        measured["load_floor"] = _child(code(RAW_SELECT), env)
    if "cached" in stages:  # tens of milliseconds: the median of alternating runs
        runs = [(_child(code(LOAD), env), _child(code(NP_LOAD), env)) for _ in range(REPEATS)]
        for position, name in enumerate(("cached", "cached_floor")):
            done = sorted((pair[position] for pair in runs), key=lambda r: r["seconds"])
            median = dict(done[len(done) // 2])
            median["runs_s"] = [r["seconds"] for r in (pair[position] for pair in runs)]
            measured[name] = median
    for stage in ("import", "load", "cached"):
        if stage in stages:
            floor = max(measured[f"{stage}_floor"]["seconds"], 1e-3)
            ratios[stage] = round(measured[stage]["seconds"] / floor, 2)
    if "recommend" in stages:
        measured["train"] = _child(code(TRAIN), env)
        floor = _child(code(IMPLICIT_RECOMMEND), env)
        measured["recommend_floor"] = floor
        first = str(scratch / f"first-{rows}.parquet")  # builds the SVD space's cache once
        measured["recommend_first"] = _child(
            code(RECOMMEND, OUT=first, WEIGHTS=MIXES["cf_only"]), env
        )
        for mix, weights in MIXES.items():
            out = str(scratch / f"all-{rows}-{mix}.parquet")
            done = _child(code(RECOMMEND, OUT=out, WEIGHTS=weights), env)
            measured[f"recommend_{mix}"] = done
            ratios[f"recommend_{mix}"] = round(done["cpu_s"] / max(floor["cpu_s"], 1e-3), 2)
        measured["recommend_loadavg"] = [round(v, 2) for v in os.getloadavg()]
        rss_out = str(scratch / f"rss-{rows}.parquet")
        measured["export_rss"] = {
            mode: [
                _child(code(EXPORT_RSS, OUT=rss_out, MODE=mode, USERS=round(share * n_users)), env)
                for share in RSS_SHARES
            ]
            for mode in ("streamed", "whole")
        }
    return {
        "rows": rows,
        "nnz": measured["load"]["nnz"],
        "users": n_users,
        "items": n_items,
        "stages": measured,
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=(*STAGES, "ann"),
        default=["import", "load", "cached", "recommend"],
        help="pipeline: import, ALS, all-listeners Parquet export, 200 x 200 heatmap (alone); "
        "ann: exact vs approximate similar items at 160k items (alone, --rows ignored)",
    )
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    parser.add_argument("--ann-items", type=int, default=SHAPE[1])
    args = parser.parse_args(argv)
    results = []
    if args.stages == ["ann"]:
        result = run_ann(args.ann_items)
        print(json.dumps(result, indent=1), flush=True)
        default = args.out == str(RESULTS / "scale.json")  # the ann stage's own file
        out = RESULTS / "scale_ann.json" if default else Path(args.out)
        out.write_text(json.dumps({"ann": result}, indent=1) + "\n", encoding="utf-8")
        return 0
    stages = tuple(args.stages)
    if "pipeline" in stages and len(stages) > 1:
        parser.error("--stages pipeline runs alone")
    with tempfile.TemporaryDirectory() as scratch:
        for rows in args.rows:
            result = run_size(rows, Path(scratch), stages)
            results.append(result)
            print(json.dumps(result, indent=1), flush=True)
    payload = {"sizes": results, "cpus": os.cpu_count()}
    Path(args.out).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
