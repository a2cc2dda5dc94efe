"""Import into PostgreSQL against its floor: ``COPY`` of the same tuples (issue 15).

For each size, synthetic data with the Last.fm 360K shape (``bench_scale.synthetic_csv``):

- ``import``: ``timbre --db URL import FILE`` end to end (parse, check, write, report) into a
  fresh database, in a child process (wall seconds, peak RSS);
- ``floor``: the same ``(dataset, user, item, event, weight, ts, source)`` tuples the import
  wrote, sent with psycopg's ``COPY interactions (...) FROM STDIN`` and committed, into a
  second fresh database with the same schema, indexes and foreign keys (migrated by Timbre)
  whose data set, users and items are already in (copied first, not timed). Only the ``COPY``
  and its commit are timed; the tuples are made beforehand.

Needs a PostgreSQL server: ``--url`` or ``TIMBRE_TEST_POSTGRES_URL`` (``bash
scripts/start-test-postgres.sh`` starts one); each database is created and dropped here. Run:
``.venv/bin/python -m benchmarks.bench_import_pg [--rows 500000 2000000]``; writes
``benchmarks/results/import_pg.json``. Target: import <= 2 x the floor, peak RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.bench_scale import _RSS, _child, synthetic_csv

RESULTS = Path(__file__).resolve().parent / "results" / "import_pg.json"

IMPORT = f"""
import json, time
from timbre.cli import main
t = time.perf_counter()
code = main(["--home", HOME, "--db", URL, "import", CSV, "--dataset", "scale"])
seconds = time.perf_counter() - t
{_RSS}
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss), "code": code}}))
"""

COLUMNS = "dataset_id, user_id, item_id, event, weight, ts, source"


@contextmanager
def fresh_database(server: str, prefix: str = "timbre_bench_") -> Iterator[str]:
    """A new, empty database on ``server`` (its URL), dropped afterwards (also the test suite's
    ``pg_url``)."""
    url = sa.make_url(server)
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _copy_out(conn: Any, query: str) -> bytes:
    buffer = io.BytesIO()
    with conn.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        for block in copy:
            buffer.write(block)
    return buffer.getvalue()


def _copy_in(conn: Any, table: str, payload: bytes) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for start in range(0, len(payload), 1 << 22):
            copy.write(payload[start : start + (1 << 22)])


def copy_floor(imported: str, floor: str) -> dict[str, Any]:
    """``COPY`` of the interaction tuples ``imported`` holds into ``floor`` (migrated, with
    its data sets, users and items copied first); seconds of the ``COPY`` and its commit."""
    from timbre.store import Store

    Store.open(floor).close()  # the same schema, indexes and foreign keys, by Timbre
    source = sa.create_engine(imported).raw_connection()
    target_engine = sa.create_engine(floor)
    target = target_engine.raw_connection()
    try:
        for table in ("datasets", "users", "items"):
            target.driver_connection.execute(f"DELETE FROM {table}")
            _copy_in(
                target.driver_connection,
                table,
                _copy_out(source.driver_connection, f"SELECT * FROM {table}"),
            )
        target.commit()
        tuples = _copy_out(source.driver_connection, f"SELECT {COLUMNS} FROM interactions")
        rows = tuples.count(b"\n")
        started = time.perf_counter()
        _copy_in(target.driver_connection, f"interactions ({COLUMNS})", tuples)
        target.commit()
        seconds = time.perf_counter() - started
    finally:
        source.close()
        target.close()
        target_engine.dispose()
    return {"seconds": round(seconds, 2), "rows": rows}


def run_size(rows: int, server: str, scratch: Path) -> dict[str, Any]:
    csv = scratch / f"scale-{rows}.csv"
    n_users, n_items = synthetic_csv(csv, rows)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    with fresh_database(server) as imported, fresh_database(server) as floor_db:
        given = {"HOME": str(scratch / f"home-{rows}"), "URL": imported, "CSV": str(csv)}
        code = "".join(f"{k} = {v!r}\n" for k, v in given.items()) + IMPORT
        done = _child(code, env)
        floor = copy_floor(imported, floor_db)
    ratio = round(done["seconds"] / max(floor["seconds"], 1e-3), 2)
    return {
        "rows": rows,
        "users": n_users,
        "items": n_items,
        "import": done,
        "copy_floor": floor,
        "ratio": ratio,
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--url", default=os.environ.get("TIMBRE_TEST_POSTGRES_URL"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if not args.url:
        print("no PostgreSQL server: give --url or set TIMBRE_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for rows in args.rows:
            result = run_size(rows, args.url, Path(scratch))
            results.append(result)
            print(json.dumps(result, indent=1), flush=True)
    payload = {"sizes": results, "cpus": os.cpu_count()}
    Path(args.out).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
