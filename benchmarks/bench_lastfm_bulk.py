"""Bulk Last.fm fetch against the loopback fake with injected faults, run twice.

The issue's "done means": 20 users (one unknown to Last.fm, one with a private history), a share
of every request failing transiently (error 29, 8, 11, 16, HTTP 500/503, replies slower than the
timeout, malformed bodies, dropped connections), the default retry policy and rate limit. The
first run must end with every user complete or clearly failed, the log saying which and why; the
second must add no row. The fake records when each request arrived, so the rate is measured
where the service would measure it.

Run: ``.venv/bin/python -m benchmarks.bench_lastfm_bulk [--users 20] [--fault-rate 0.1]
[--rate 5] [--workers 4]``. Writes ``benchmarks/results/lastfm_bulk.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes.lastfm import FakeLastfm, make_user
from timbre.sources.lastfm import KINDS, LastfmClient, LastfmFetcher, LastfmOptions, add_users
from timbre.store import Store

RESULTS = Path(__file__).resolve().parent / "results"
KEY = "benchmark-lastfm-key-5c0ffee"


def _busiest_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    best, start = 0, 0
    for end, t in enumerate(arrivals):
        while t - arrivals[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _run(
    store: Store, fake: FakeLastfm, names: list[str], options: LastfmOptions
) -> dict[str, Any]:
    fake.requests.clear()
    counts = store.table_counts()
    started = time.perf_counter()
    with LastfmClient(KEY, options) as client:
        results = LastfmFetcher(store, client).fetch_users(names, KINDS)
    seconds = time.perf_counter() - started
    after = store.table_counts()
    new_rows = {
        t: after[t] - counts[t] for t in after if t != "fetch_logs" and after[t] != counts[t]
    }
    arrivals = [r.at for r in fake.requests]
    return {
        "seconds": round(seconds, 1),
        "status": dict(Counter(r.status for r in results)),
        "requests": len(fake.requests),
        "faults_injected": dict(Counter(r.fault for r in fake.requests if r.fault)),
        "retries": sum(r.retries for r in results),
        "busiest_second": _busiest_second(arrivals),
        "mean_rate": round((len(arrivals) - 1) / (max(arrivals) - min(arrivals)), 2),
        "new_rows_by_table": new_rows,
        "new_rows": sum(new_rows.values()),
        "fetch_logs_written": after["fetch_logs"] - counts["fetch_logs"],
        "users": [
            {"user": r.user, "status": r.status, "rows": r.rows, "why": r.error} for r in results
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    names = [f"listener{i:02d}" for i in range(args.users - 2)] + ["private01", "nobody99"]
    accounts = [make_user(n, 100 + 25 * (i % 20)) for i, n in enumerate(names[:-1])]
    accounts[-1].private = True  # "nobody99" is not an account at all
    with tempfile.TemporaryDirectory() as scratch:
        fake = FakeLastfm(
            accounts,
            api_key=KEY,
            fault_rate=args.fault_rate,
            fault_seed=args.seed,
            slow_seconds=2.5,
            workdir=Path(scratch),
        )
        with fake:
            os.environ["SSL_CERT_FILE"] = str(fake.ca_path)
            options = LastfmOptions(
                api_root=fake.url, rate=args.rate, workers=args.workers, timeout=2.0
            )
            with Store.open(f"sqlite:///{Path(scratch) / 'timbre.db'}") as store:
                add_users(store, names)
                first = _run(store, fake, names, options)
                second = _run(store, fake, names, options)
    report = {
        "users": args.users,
        "fault_rate": args.fault_rate,
        "rate": args.rate,
        "workers": args.workers,
        "timeout_s": 2.0,
        "retry": "5 attempts, 1 s base, x2, 30 s cap, 50% jitter (the defaults)",
        "first_run": first,
        "second_run": second,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lastfm_bulk.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for label, run in (("first run", first), ("second run", second)):
        print(
            f"{label}: {run['status']} in {run['seconds']} s; {run['requests']} requests "
            f"({sum(run['faults_injected'].values())} faulty, {run['retries']} retries); busiest "
            f"second {run['busiest_second']} requests, mean {run['mean_rate']}/s; "
            f"{run['new_rows']:,} new rows"
        )
        for user in run["users"]:
            if user["status"] != "ok":
                print(f"  {user['user']}: {user['status']}: {user['why']}")


if __name__ == "__main__":
    main()
