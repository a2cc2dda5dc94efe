"""The store's shared SQL building blocks: chunks, clean values, dialect upserts, key lookups."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from timbre.errors import DataError
from timbre.store.schema import NO_TIMESTAMP, T_DATASETS, TABLES

#: Rows per executemany call of a bulk write.
CHUNK = 5000
#: Values per ``IN (...)`` list (SQLite allows 999 bound parameters per statement).
IN_CHUNK = 900

T = TypeVar("T")
#: A dialect's ``INSERT`` with ``ON CONFLICT`` (PostgreSQL or SQLite).
Upsert = PostgresInsert | SqliteInsert


def now() -> datetime:
    """The current time, timezone-aware UTC (what every ``created_at`` holds)."""
    return datetime.now(UTC)


def chunks(rows: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``rows`` of at most ``size`` elements."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def clean(value: object) -> object:
    """Database-ready scalar: NaN/NaT/None -> None, numpy scalars -> Python."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def failure_reason(exc: SQLAlchemyError) -> str:
    """The first line of what the database said (the DBAPI error when there is one)."""
    lines = str(getattr(exc, "orig", exc)).splitlines()
    return lines[0] if lines else type(exc).__name__


def timestamps_to_ms(values: pd.Series) -> NDArray[np.int64]:
    """UTC timestamps -> epoch milliseconds; missing -> ``NO_TIMESTAMP``."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    ms = np.full(len(stamps), NO_TIMESTAMP, dtype=np.int64)
    present = stamps.notna().to_numpy()
    if present.any():
        epoch = pd.Timestamp(0, tz="UTC")
        ms[present] = ((stamps[present] - epoch) // pd.Timedelta(milliseconds=1)).to_numpy()
    return ms


def ms_to_timestamps(ms: NDArray[np.int64], index: pd.Index) -> pd.Series:
    """Epoch milliseconds -> UTC timestamps; ``NO_TIMESTAMP`` -> ``NaT`` (inverse of the above)."""
    stamps = pd.to_datetime(np.where(ms == NO_TIMESTAMP, 0, ms), unit="ms", utc=True)
    return pd.Series(stamps, index=index).where(ms != NO_TIMESTAMP)


def upsert_statement(conn: Connection, table: sa.Table) -> Upsert:
    """An ``INSERT`` into ``table`` in the dialect of ``conn``, ready for ``ON CONFLICT``."""
    return (postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


@dataclass
class WriteCounts:
    """What one write did to one table, from the database's own answers (never a before/after
    count, which would include what other writers added meanwhile).

    Attributes
    ----------
    new
        Rows this write inserted.
    updated
        Rows that were stored and whose values this write changed.
    unchanged
        Rows that were stored with exactly the values given.
    """

    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: WriteCounts) -> None:
        """Add ``other``'s counts to these."""
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    keys: Sequence[str] = (),
    update: Sequence[str] = (),
) -> WriteCounts:
    """Insert ``rows`` in chunks; on a clash of the natural key update ``update`` or skip.

    Each chunk is inserted with ``ON CONFLICT DO NOTHING RETURNING`` its key (the rows the
    database says it inserted are the new ones), then the other rows are updated where a value
    differs (the updated ones, by the database's row count). Rows go in key order, so two
    transactions writing the same rows lock them in the same order (no deadlock).

    Parameters
    ----------
    conn
        The connection (its transaction holds the whole import).
    table
        The table written.
    rows
        One mapping of column values per row; no two with the same key.
    keys
        The columns of the unique key that decides a clash (empty: the primary key, only with
        ``update`` empty).
    update
        The columns a clashing row overwrites with the new values; empty: keep the stored row.

    Returns
    -------
    WriteCounts
        New, updated and unchanged rows.
    """
    counts = WriteCounts()
    key_columns = list(keys) or [c.name for c in table.primary_key.columns]
    insert = (
        upsert_statement(conn, table)
        .on_conflict_do_nothing(index_elements=list(keys) or None)
        .returning(*[table.c[k] for k in key_columns])
    )
    change = _update_statement(table, key_columns, update) if update else None
    ordered = sorted(rows, key=lambda row: _key_of(row, key_columns))
    for chunk in chunks(ordered):
        added = {tuple(found) for found in conn.execute(insert, list(chunk))}
        rest = [row for row in chunk if tuple(row[k] for k in key_columns) not in added]
        changed = 0
        if change is not None and rest:
            binds = [{f"b_{c}": row[c] for c in (*key_columns, *update)} for row in rest]
            changed = int(conn.execute(change, binds).rowcount or 0)
        counts.add(WriteCounts(len(added), changed, len(chunk) - len(added) - changed))
    return counts


def _key_of(row: Mapping[str, object], columns: Sequence[str]) -> tuple[Any, ...]:
    """The values of ``columns`` in ``row`` (a sort key: each column holds one type)."""
    return tuple(row[c] for c in columns)


def _update_statement(table: sa.Table, keys: Sequence[str], update: Sequence[str]) -> sa.Update:
    """``UPDATE`` of the ``update`` columns of the row with the given key, only where one of
    them differs (so the row count is the rows that changed); parameters are ``b_<column>``."""
    differs = sa.or_(*[table.c[c].is_distinct_from(sa.bindparam(f"b_{c}")) for c in update])
    return (
        table.update()
        .where(*[table.c[k] == sa.bindparam(f"b_{k}") for k in keys], differs)
        .values({c: sa.bindparam(f"b_{c}") for c in update})
    )


#: Rows per driver call of :func:`bulk_insert` (bounded memory for the driver's buffers).
BULK_CHUNK = 50_000
#: SQLite page cache for a bulk write, in KiB (a negative ``cache_size`` is KiB).
BULK_CACHE_KIB = 262_144


def bulk_insert(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    keys: Sequence[str] = (),
    update: Sequence[str] = (),
    accumulate: Sequence[str] = (),
) -> None:
    """Write many rows as plain tuples through the driver's bulk path, in the caller's
    transaction.

    Without ``keys`` the rows are plainly inserted (they cannot collide: a new data set); with
    ``keys`` a clash of that unique key sets ``update`` to the new values and adds the new values
    to ``accumulate`` (or keeps the stored row when both are empty). SQLite:
    ``executemany`` with a large page cache; PostgreSQL: ``COPY`` (into a staging table, then one
    ``INSERT ... ON CONFLICT``, when rows can collide). Constraint failures raise as usual and
    roll the whole transaction back.
    """
    if not rows:
        return
    conflict = _on_conflict(table.name, keys, update, accumulate)
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, columns, rows, conflict if keys else None)
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    names = ", ".join(columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    sql += conflict
    for chunk in chunks(rows, BULK_CHUNK):
        conn.exec_driver_sql(sql, list(chunk))


def _on_conflict(
    name: str, keys: Sequence[str], update: Sequence[str], accumulate: Sequence[str]
) -> str:
    if not keys:
        return ""
    sets = [f"{c} = excluded.{c}" for c in update]
    sets += [f"{c} = {name}.{c} + excluded.{c}" for c in accumulate]
    if not sets:
        return f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"


def _copy_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    conflict: str | None,
) -> None:
    """PostgreSQL: ``COPY`` the rows in; with a ``conflict`` clause, into a staging table first
    and then one ``INSERT ... SELECT ... ON CONFLICT``."""
    names = ", ".join(columns)
    target = table.name if conflict is None else f"timbre_stage_{table.name}"
    if conflict is not None:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {target} ON COMMIT DROP AS SELECT {names} FROM {table.name} "
            "WITH NO DATA"
        )
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    if conflict is not None:
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target}{conflict}"
        )
        conn.exec_driver_sql(f"DROP TABLE {target}")


def ids_by_key(conn: Connection, table: sa.Table, keys: Iterable[str]) -> dict[str, int]:
    """The ids of the rows of ``table`` (users or items) whose ``key`` is one of ``keys``."""
    wanted = sorted({str(k) for k in keys})
    found: dict[str, int] = {}
    for chunk in chunks(wanted, IN_CHUNK):
        for key, ident in conn.execute(
            sa.select(table.c.key, table.c.id).where(table.c.key.in_(chunk))
        ):
            found[key] = ident
    return found


def dataset_id(conn: Connection, name: str) -> int:
    """The id of the data set called ``name``.

    Raises
    ------
    DataError
        No data set has this name (the message lists the known ones).
    """
    datasets = T_DATASETS
    ident = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if ident is None:
        known = [r[0] for r in conn.execute(sa.select(datasets.c.name))]
        raise DataError(f"no data set named {name!r}; known: {', '.join(known) or 'none'}")
    return int(ident)


def select_frame(conn: Connection, query: sa.Executable, columns: list[str]) -> pd.DataFrame:
    """The rows of ``query`` as a frame with the given column names.

    The rows become plain tuples first: pandas probes every SQLAlchemy ``Row`` for array
    attributes, which costs more than the query itself on large tables."""
    rows = [tuple(row) for row in conn.execute(query).all()]
    return pd.DataFrame(rows, columns=columns)


def select_plain_frame(conn: Connection, query: sa.Executable, columns: list[str]) -> pd.DataFrame:
    """:func:`select_frame` for columns that need no type conversion (integers, floats,
    strings): the driver's rows are read straight from its cursor (SQLAlchemy's row processing
    is 2-3 times the query on millions of rows)."""
    result = conn.execute(query)
    cursor = getattr(result, "cursor", None)
    rows = cursor.fetchall() if cursor is not None else [tuple(r) for r in result.all()]
    return pd.DataFrame.from_records(rows, columns=columns)


def read_frame(conn: Connection, query: sa.Selectable) -> pd.DataFrame:
    """The rows of ``query`` as pandas reads them (column names and dtypes by ``read_sql``).

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        The database failed (unwrapped from pandas' ``DatabaseError``, so the store turns it
        into a ``StorageError`` like any other).
    """
    try:
        return pd.read_sql(query, conn)
    except pd.errors.DatabaseError as exc:
        if isinstance(exc.__cause__, SQLAlchemyError):
            raise exc.__cause__ from None
        raise


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows per table."""
    return {
        table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
        for table in TABLES
    }


#: Columns that count writes rather than hold data (``content_digest`` leaves them out).
BOOKKEEPING = {("datasets", "revision")}


def content_digest(conn: Connection) -> dict[str, str]:
    """SHA-256 per table of all its rows (every column but bookkeeping ones, such as a data
    set's revision counter, in primary-key order)."""
    digests: dict[str, str] = {}
    for table in TABLES:
        digest = hashlib.sha256()
        order = list(table.primary_key.columns) or list(table.columns)
        columns = [c for c in table.columns if (table.name, c.name) not in BOOKKEEPING]
        for row in conn.execute(sa.select(*columns).order_by(*order)):
            digest.update(repr(tuple(row)).encode())
        digests[table.name] = digest.hexdigest()
    return digests
