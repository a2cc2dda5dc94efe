"""Who is writing: SQLite's write lock taken up front, the record of long writes, the one line
that says why the database is busy, and whether a recorded process still runs.

SQLite has one writer at a time. Every write transaction of the store starts with
``BEGIN IMMEDIATE``, so it waits for the lock (up to the busy timeout: 5 s, or the ``timeout``
of the database URL, ``sqlite:///timbre.db?timeout=30``) before it has read anything; a
transaction that reads first and writes later could fail at once instead. A long write (an
import, a deletion) is recorded in ``store_writers`` in a short transaction of its own before
it starts and deleted when it ends, so a process that waited in vain can say which process is
writing and what it does. PostgreSQL writers wait for each other's rows without a timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from timbre.errors import StorageError
from timbre.store.schema import T_STORE_WRITERS
from timbre.store.sql import now

log = logging.getLogger(__name__)

#: Seconds a SQLite connection waits for another writer before it gives up.
DEFAULT_BUSY_TIMEOUT_S = 5.0
#: The execution option that marks a connection as a writer (``BEGIN IMMEDIATE`` on SQLite).
WRITE_OPTION = "timbre_write"
#: SQLSTATEs of PostgreSQL's lock failures: lock not available, deadlock detected.
_PG_LOCK_STATES = ("55P03", "40P01")
#: ``sqlite3`` result codes of a busy or locked database.
_SQLITE_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class DatabaseBusy(StorageError):
    """Another writer kept the database locked past the busy timeout (the message says who)."""


def busy_timeout(url: sa.URL) -> float:
    """The busy timeout (seconds) of a SQLite URL: its ``timeout`` query value, else 5.

    Raises
    ------
    StorageError
        A ``timeout`` that is not a positive number.
    """
    raw = url.query.get("timeout")
    if raw is None:
        return DEFAULT_BUSY_TIMEOUT_S
    text = raw if isinstance(raw, str) else raw[-1]
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise StorageError(f"the database URL's timeout must be a positive number, got {text!r}")
    return seconds


def install_sqlite(engine: Engine, timeout_s: float) -> None:
    """Per SQLite connection: WAL, the busy timeout, foreign keys, normal sync; transactions
    begun by the store itself, ``BEGIN IMMEDIATE`` on connections marked ``WRITE_OPTION``."""

    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def on_begin(conn: Connection) -> None:
        writer = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


def is_busy(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` says another writer holds the lock (SQLite busy or locked, PostgreSQL
    lock timeout or deadlock)."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF in _SQLITE_BUSY) or "locked" in str(orig)
    return getattr(orig, "sqlstate", None) in _PG_LOCK_STATES


def this_process() -> tuple[int, str]:
    """``(pid, host)`` of the running process, as records of work in progress name it."""
    return os.getpid(), socket.gethostname()[:255]


def process_gone(pid: int | None, host: str | None, since: datetime | None) -> bool:
    """Whether the process that recorded work at ``since`` as ``pid`` on ``host`` has ended.

    Known only on the same host: the pid runs no process, a finished one (a zombie), or one that
    started after ``since`` (the pid was reused). On another host (or without a pid) a process is
    never known to be gone.
    """
    if pid is None or host != this_process()[1]:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started, state = _proc_start(int(pid))
    if state == "Z":
        return True
    return since is not None and started is not None and started > as_utc(since).timestamp() + 1.0


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its time zone; a naive one (SQLite gives them back) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _proc_start(pid: int) -> tuple[float | None, str | None]:
    """A Linux process's start time (epoch seconds) and state letter; ``None`` elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None, None
    fields = stat.rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return boot + float(fields[19]) / ticks, fields[0]


@contextmanager
def recorded(writer: Engine, operation: str) -> Iterator[None]:
    """Record ``operation`` in ``store_writers`` while the block runs (the long write in it).

    The record is written and removed in transactions of its own (committed, so that other
    processes see it); records of processes that are gone are removed on the way.
    """
    pid, host = this_process()
    with writer.begin() as conn:
        _forget_gone(conn)
        ident = conn.execute(
            T_STORE_WRITERS.insert()
            .values(operation=operation[:300], pid=pid, host=host, started_at=now())
            .returning(T_STORE_WRITERS.c.id)
        ).scalar_one()
    try:
        yield
    finally:
        try:
            with writer.begin() as conn:
                conn.execute(T_STORE_WRITERS.delete().where(T_STORE_WRITERS.c.id == ident))
        except SQLAlchemyError as exc:  # left behind; the next writer removes it once we are gone
            log.warning("could not remove the record of %r: %s", operation, exc)


def _forget_gone(conn: Connection) -> None:
    rows = conn.execute(sa.select(T_STORE_WRITERS)).mappings().all()
    gone = [r["id"] for r in rows if process_gone(r["pid"], r["host"], r["started_at"])]
    if gone:
        conn.execute(T_STORE_WRITERS.delete().where(T_STORE_WRITERS.c.id.in_(gone)))


def busy_message(engine: Engine, timeout_s: float | None) -> str:
    """One line: the database is busy, who writes (from ``store_writers``) and what to do."""
    writers: list[dict[str, Any]] = []
    with suppress(SQLAlchemyError), engine.connect() as conn:
        rows = conn.execute(sa.select(T_STORE_WRITERS).order_by(T_STORE_WRITERS.c.id))
        writers = [dict(r) for r in rows.mappings()]
    live = [w for w in writers if not process_gone(w["pid"], w["host"], w["started_at"])]
    waited = f" (waited {timeout_s:g} s)" if timeout_s else ""
    if not live:
        return (
            f"the database is busy: another program is writing to it{waited}; try again when "
            "it has finished"
        )
    first = live[0]
    seconds = max(0.0, (now() - as_utc(first["started_at"])).total_seconds())
    return (
        f"the database is busy: another Timbre process (pid {first['pid']} on {first['host']}) "
        f"has been {first['operation']} for {seconds:.0f} s{waited}; try again when it has "
        "finished"
    )
