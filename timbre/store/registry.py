"""The store's records of work done: fetch logs, personality profiles, model runs, saved lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import DataError
from timbre.store.locks import as_utc, process_gone, this_process
from timbre.store.schema import (
    T_FETCH_LOGS,
    T_MODEL_RUNS,
    T_PERSONALITY_PROFILES,
    T_SAVED_RECOMMENDATIONS,
)
from timbre.store.sql import chunks, now, read_frame

#: A ``running`` fetch log of another machine not updated for this long is interrupted (a
#: running fetch updates its row after every kind it writes).
STALE_AFTER = timedelta(minutes=15)


def _insert_returning_id(conn: Connection, table: sa.Table, values: Mapping[str, object]) -> int:
    """Insert one row into ``table``; its new id."""
    return int(conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one())


def _as_dicts(conn: Connection, query: sa.Executable) -> list[dict[str, Any]]:
    """The rows of ``query`` as dictionaries (column name -> value)."""
    return [dict(row._mapping) for row in conn.execute(query)]


def add_fetch_log(conn: Connection, values: Mapping[str, object]) -> int:
    """Record one fetch (``user_key, source, kinds, started_at, status, ...``); its id.

    ``started_at`` defaults to now.
    """
    return _insert_returning_id(conn, T_FETCH_LOGS, {"started_at": now(), **values})


def interruption(row: Mapping[str, Any]) -> str | None:
    """Why a ``running`` fetch log is taken as interrupted, or ``None`` (it is not).

    A fetch writes its row as ``running`` when it starts and closes it when it ends; a row
    still ``running`` is interrupted when the process that wrote it is gone (on this machine:
    its pid runs no process, or one started after the fetch) or, written on another machine or
    without a pid, when it has not been updated for ``STALE_AFTER``.
    """
    if row["status"] != "running":
        return None
    started = _moment(row["started_at"])
    last = _moment(row.get("updated_at")) or started
    pid = None if _missing(row.get("pid")) else int(row["pid"])
    host = None if _missing(row.get("host")) else str(row["host"])
    seen = f"last seen {last:%Y-%m-%d %H:%M:%S} UTC" if last else "never updated"
    if pid is not None and process_gone(pid, host, started):
        return f"interrupted: its process (pid {pid}) ended before the fetch did ({seen})"
    here = pid is not None and host == this_process()[1]
    if not here and last is not None and now() - last > STALE_AFTER:
        minutes = STALE_AFTER.total_seconds() / 60
        return f"interrupted: no sign of life for more than {minutes:.0f} minutes ({seen})"
    return None


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def _moment(value: object) -> datetime | None:
    """A stored time as an aware ``datetime`` (``None`` when missing)."""
    if _missing(value):
        return None
    return as_utc(pd.Timestamp(value).to_pydatetime())  # type: ignore[arg-type]


def start_fetch_logs(conn: Connection, rows: Sequence[Mapping[str, object]]) -> list[int]:
    """Mark the interrupted ``running`` logs as such, then add ``rows`` as ``running``; ids."""
    close_interrupted(conn)
    return [
        _insert_returning_id(conn, T_FETCH_LOGS, {"updated_at": now(), **row, "status": "running"})
        for row in rows
    ]


def close_interrupted(conn: Connection) -> int:
    """Give every interrupted ``running`` log (see ``interruption``) its status; how many."""
    logs = T_FETCH_LOGS
    running = conn.execute(sa.select(logs).where(logs.c.status == "running")).mappings().all()
    closed = 0
    for row in running:
        why = interruption(dict(row))
        if why is not None:
            conn.execute(
                logs.update()
                .where(logs.c.id == row["id"], logs.c.status == "running")
                .values(
                    status="interrupted",
                    error=why,
                    finished_at=row["updated_at"] or row["started_at"],
                )
            )
            closed += 1
    return closed


def update_fetch_log(conn: Connection, log_id: int, values: Mapping[str, object]) -> None:
    """Set ``values`` in fetch log ``log_id`` (and its ``updated_at`` to now)."""
    logs = T_FETCH_LOGS
    conn.execute(logs.update().where(logs.c.id == log_id).values(updated_at=now(), **values))


def list_fetch_logs(conn: Connection, limit: int) -> pd.DataFrame:
    """The newest ``limit`` fetch logs, newest first; interrupted ``running`` ones say so
    (``status`` ``interrupted``, ``error`` why) even before a later fetch records it."""
    logs = T_FETCH_LOGS
    frame = read_frame(conn, sa.select(logs).order_by(logs.c.id.desc()).limit(limit))
    for label in frame.index[frame["status"] == "running"]:
        row = frame.loc[label]
        why = interruption(row.to_dict())
        if why is not None:
            frame.loc[label, ["status", "error", "finished_at"]] = [
                "interrupted",
                why,
                row["updated_at"],
            ]
    return frame


def add_profile(conn: Connection, values: Mapping[str, object]) -> int:
    """Store one personality profile (``user_key, instrument, answers, scores, ...``); its id."""
    return _insert_returning_id(conn, T_PERSONALITY_PROFILES, {**values, "created_at": now()})


def list_profiles(conn: Connection, user_key: str | None) -> list[dict[str, Any]]:
    """Personality profiles, newest first (of one user unless ``user_key`` is ``None``)."""
    profiles = T_PERSONALITY_PROFILES
    query = sa.select(profiles).order_by(profiles.c.id.desc())
    if user_key is not None:
        query = query.where(profiles.c.user_key == user_key)
    return _as_dicts(conn, query)


def add_model_run(conn: Connection, values: Mapping[str, object]) -> int:
    """Record a training run (``model, params, dataset, fingerprint, ...``); its id."""
    return _insert_returning_id(conn, T_MODEL_RUNS, {**values, "created_at": now()})


def list_model_runs(conn: Connection) -> list[dict[str, Any]]:
    """Training runs, newest first."""
    return _as_dicts(conn, sa.select(T_MODEL_RUNS).order_by(T_MODEL_RUNS.c.id.desc()))


def set_active_run(conn: Connection, run_id: int) -> None:
    """Make run ``run_id`` the only active one of its data set.

    Raises
    ------
    DataError
        No run has this id.
    """
    runs = T_MODEL_RUNS
    dataset = conn.execute(sa.select(runs.c.dataset).where(runs.c.id == run_id)).scalar()
    if dataset is None:
        raise DataError(f"no model run {run_id}")
    conn.execute(runs.update().where(runs.c.dataset == dataset).values(active=False))
    conn.execute(runs.update().where(runs.c.id == run_id).values(active=True))


def delete_model_run(conn: Connection, run_id: int) -> str | None:
    """Delete run ``run_id`` and its saved recommendations; its artifact path (or ``None``)."""
    runs, saved = T_MODEL_RUNS, T_SAVED_RECOMMENDATIONS
    path = conn.execute(sa.select(runs.c.artifact_path).where(runs.c.id == run_id)).scalar()
    conn.execute(saved.delete().where(saved.c.run_id == run_id))
    conn.execute(runs.delete().where(runs.c.id == run_id))
    return None if path is None else str(path)


def save_recommendations(
    conn: Connection, run_id: int, rows: Sequence[Mapping[str, object]]
) -> int:
    """Store ranked recommendations of run ``run_id``; how many rows were given."""
    for chunk in chunks(list(rows)):
        conn.execute(T_SAVED_RECOMMENDATIONS.insert(), [{"run_id": run_id, **row} for row in chunk])
    return len(rows)


def list_saved_recommendations(conn: Connection, user_key: str | None) -> list[dict[str, Any]]:
    """Saved recommendations (optionally of one user), newest list first, best rank first."""
    saved = T_SAVED_RECOMMENDATIONS
    query = sa.select(saved).order_by(saved.c.id.desc())
    if user_key is not None:
        query = query.where(saved.c.user_key == user_key)
    rows = _as_dicts(conn, query)
    return sorted(rows, key=lambda r: (-int(r["run_id"]), r["user_key"], int(r["rank"])))


def _serving_marks_query() -> sa.Select[Any]:
    """The statement behind :func:`serving_marks`, built once: it runs on every API request,
    and SQLAlchemy then reuses its cache key and compiled form (0.02 ms a run instead of 0.25
    for one built each time)."""
    runs, profiles = T_MODEL_RUNS, T_PERSONALITY_PROFILES
    dataset: sa.BindParameter[str] = sa.bindparam("dataset")
    served = sa.and_(runs.c.dataset == dataset, runs.c.artifact_path.is_not(None))
    return sa.select(
        sa.select(sa.func.max(runs.c.id)).where(served, runs.c.active).scalar_subquery(),
        sa.select(sa.func.max(runs.c.id)).where(served).scalar_subquery(),
        sa.select(sa.func.count(profiles.c.id)).scalar_subquery(),
        sa.select(sa.func.coalesce(sa.func.max(profiles.c.id), 0)).scalar_subquery(),
    )


_SERVING_MARKS = _serving_marks_query()


def serving_marks(conn: Connection, dataset: str) -> tuple[int | None, int | None, int, int]:
    """``(active run id, newest run id)`` among a data set's runs with an artifact (``None``
    when there is none) and ``(profiles, newest profile id)`` of the store, in one query each:
    what an API server checks on every request to know its engine is still the one to serve."""
    row = conn.execute(_SERVING_MARKS, {"dataset": dataset}).one()
    active, newest = (None if v is None else int(v) for v in row[:2])
    return active, newest, int(row[2]), int(row[3])
