"""The store's records of work done: fetch logs, personality profiles, model runs, saved lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import DataError
from timbre.store.schema import (
    T_FETCH_LOGS,
    T_MODEL_RUNS,
    T_PERSONALITY_PROFILES,
    T_SAVED_RECOMMENDATIONS,
)
from timbre.store.sql import chunks, now, read_frame


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


def list_fetch_logs(conn: Connection, limit: int) -> pd.DataFrame:
    """The newest ``limit`` fetch logs, newest first."""
    logs = T_FETCH_LOGS
    return read_frame(conn, sa.select(logs).order_by(logs.c.id.desc()).limit(limit))


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
