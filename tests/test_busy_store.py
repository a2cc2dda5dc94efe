"""Issue 16, items 2 and 3: a database another process keeps busy, and fetches that are killed.

Real processes on a real SQLite file: a holder process keeps a write transaction open while the
``timbre`` command (in another process, or in this one) tries to write.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.fakes.lastfm import FakeLastfm, make_user
from timbre.sources.lastfm import LastfmClient, LastfmFetcher, LastfmOptions
from timbre.sources.live import FetchProgress, RetryPolicy
from timbre.store import Store

KEY = "test-lastfm-key-busy-0c1d2e3f"

#: Holds the SQLite write lock: as another program would (raw sqlite3), or as a Timbre import.
HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    from pathlib import Path
    path, ready, release, how = sys.argv[1:5]
    if how == "raw":
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO datasets (name, source, created_at) VALUES ('x', 'x', '2024')")
        Path(ready).write_text("ready")
        while not Path(release).exists():
            time.sleep(0.05)
        conn.execute("ROLLBACK")
    else:
        from timbre.store import Store
        store = Store.open("sqlite:///" + path)
        try:
            held = store._connection(transaction=True, operation=how)
        except TypeError:  # code that records no writers: hold the lock all the same
            held = store._connection(transaction=True)
        with held as conn:
            conn.exec_driver_sql(
                "INSERT INTO datasets (name, source, created_at) VALUES ('x', 'x', '2024')"
            )
            Path(ready).write_text("ready")
            while not Path(release).exists():
                time.sleep(0.05)
            raise SystemExit(0)  # rolls back
    """
)


class Holder:
    """A process that holds the store's write lock until :meth:`release`."""

    def __init__(self, db: Path, tmp: Path, how: str) -> None:
        self.ready, self.released = tmp / f"ready-{id(self)}", tmp / f"release-{id(self)}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), str(self.ready), str(self.released), how],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                _, err = self.process.communicate(timeout=5)
                raise AssertionError(f"the holder did not take the lock: {err}")
            time.sleep(0.05)
        self.pid = self.process.pid

    def release(self) -> None:
        self.released.write_text("go")
        self.process.wait(timeout=30)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with a small data set (to train on) and one tracked Last.fm user."""
    path = tmp_path / "timbre.db"
    plays = tmp_path / "plays.csv"
    rows = [(f"u{u}", f"a{(u * 7 + k) % 30}", 1 + (u + k) % 5) for u in range(30) for k in range(8)]
    pd.DataFrame(rows, columns=["user", "item", "weight"]).to_csv(plays, index=False)
    code, _, err = timbre(path, "import", str(plays), "--dataset", "plays")
    assert code == 0, err
    return path


def timbre(db: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``timbre --home DIR/home --db sqlite:///DB?timeout=1 ARGV`` in its own process (DIR
    being the database's folder)."""
    home = db.parent / "home"
    url = f"sqlite:///{db}?timeout=1"
    done = subprocess.run(
        [sys.executable, "-m", "timbre", "--home", str(home), "--db", url, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    users = [make_user("alice", 2000), make_user("bob", 60)]
    with FakeLastfm(users, api_key=KEY, workdir=tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        yield server


def _one_clear_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "sqlalchemy" not in err.lower() and "sqlite3" not in err
    return lines[0]


@pytest.mark.parametrize("how", ["raw", "importing csv data into data set 'big'"])
def test_train_on_a_busy_database_fails_with_one_line_naming_the_writer(
    db: Path, tmp_path: Path, how: str
) -> None:
    holder = Holder(db, tmp_path, how)
    try:
        started = time.monotonic()
        code, _, err = timbre(db, "train", "--model", "popularity", "--dataset", "plays")
        waited = time.monotonic() - started
    finally:
        holder.release()
    assert code == 1
    line = _one_clear_line(err)
    assert line.startswith("timbre: error: the database is busy"), line
    assert "waited 1 s" in line and waited >= 1.0
    if how == "raw":
        assert "another program is writing to it" in line
    else:
        assert f"pid {holder.pid}" in line and "importing csv data into data set 'big'" in line
    # no model artifact without its run (the matrix cache under home/cache may hold the data)
    assert not list((tmp_path / "home" / "artifacts").rglob("*.npz"))
    code, _, err = timbre(db, "train", "--model", "popularity", "--dataset", "plays")
    assert code == 0, err  # once the other writer is done, it works


def test_fetch_on_a_busy_database_fails_before_fetching_with_one_line(
    db: Path, tmp_path: Path, fake: FakeLastfm
) -> None:
    env = {"LASTFM_API_KEY": KEY, "TIMBRE_LASTFM_API_ROOT": fake.url}
    holder = Holder(db, tmp_path, "importing csv data into data set 'big'")
    try:
        code, _, err = timbre(db, "fetch", "lastfm", "alice", "--rate", "200", env=env)
    finally:
        holder.release()
    assert code == 1
    line = _one_clear_line(err)
    assert "the database is busy" in line and f"pid {holder.pid}" in line, line
    assert fake.requests_for() == []  # nothing fetched that could not be recorded
    assert KEY not in err


def test_a_fetch_that_meets_a_busy_database_keeps_its_log_row(
    db: Path, tmp_path: Path, fake: FakeLastfm
) -> None:
    """The writer comes while the fetch runs: the fetch's writes fail, its log row does not."""
    holders: list[Holder] = []
    taken = threading.Event()

    def progress(event: FetchProgress) -> None:
        if not taken.is_set() and event.stage != "start":
            holders.append(Holder(db, tmp_path, "importing csv data into data set 'big'"))
            threading.Timer(7.0, holders[0].release).start()  # > 5 s
            taken.set()

    options = LastfmOptions(
        api_root=fake.url,
        rate=500.0,
        timeout=2.0,
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        page_size=50,
    )
    with Store.open(f"sqlite:///{db}?timeout=1") as store:
        with LastfmClient(KEY, options) as client:
            results = LastfmFetcher(store, client).fetch_users(
                ["alice"], ("history",), progress=progress
            )
        logs = store.list_fetch_logs()
    assert taken.is_set() and holders
    assert len(results) == 1 and results[0].status in ("failed", "partial")
    assert "the database is busy" in str(results[0].error)
    assert len(logs) == 1, logs
    row = logs.iloc[0]
    assert row["user_key"] == "lastfm:alice" and row["status"] == results[0].status
    assert "the database is busy" in str(row["error"]) and pd.notna(row["finished_at"])


def test_a_killed_fetch_leaves_a_running_row_that_reads_and_becomes_interrupted(
    db: Path, tmp_path: Path, fake: FakeLastfm
) -> None:
    env = {**os.environ, "LASTFM_API_KEY": KEY, "TIMBRE_LASTFM_API_ROOT": fake.url}
    store = Store.open(f"sqlite:///{db}")
    before = store.stats()["interactions"]
    home = ["--home", str(tmp_path / "home"), "--db", f"sqlite:///{db}"]
    argv = ["fetch", "lastfm", "alice", "--kinds", "top-artists,history", "--rate", "1"]
    fetch = subprocess.Popen(
        [sys.executable, "-m", "timbre", *home, *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while store.stats()["interactions"] <= before and time.monotonic() < deadline:
            time.sleep(0.1)  # until the fetch has written a kind (and is still paging)
        assert fetch.poll() is None, "the fetch ended before it could be killed"
        running = store.list_fetch_logs()
        assert running["status"].tolist() == ["running"]  # written when it started
        fetch.send_signal(signal.SIGKILL)
        fetch.wait(timeout=30)
        stored = store.stats()["interactions"] - before
        assert stored > 0
        code, out, err = timbre(db, "users", "list", "--json", env=env)
        assert code == 0, err
        alice = next(u for u in json.loads(out) if u["key"] == "lastfm:alice")
        assert alice["status"] == "interrupted" and alice["last_fetch"] is not None
        code, out, err = timbre(db, "logs", "--json", env=env)
        assert code == 0, err
        assert "its process (pid" in json.loads(out)[0]["error"]
        code, _, err = timbre(db, "fetch", "lastfm", "bob", "--kinds", "top-artists", env=env)
        assert code == 0, err
        logs = store.list_fetch_logs()
        engine_rows = store.engine.connect().exec_driver_sql(
            "SELECT user_key, status, finished_at FROM fetch_logs ORDER BY id"
        )
        rows = [tuple(r) for r in engine_rows]
    finally:
        if fetch.poll() is None:
            fetch.kill()
        store.close()
    assert [(r[0], r[1]) for r in rows] == [("lastfm:alice", "interrupted"), ("lastfm:bob", "ok")]
    assert rows[0][2] is not None  # closed by the later run, in the database itself
    assert logs["status"].tolist() == ["ok", "interrupted"]
