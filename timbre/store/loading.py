"""Reading a data set for the models as arrays: its interactions straight from the driver into
NumPy, its users' and items' keys once each, its items' metadata and tags.

What ``load_data`` reads from the store (then ``InteractionData.from_codes`` builds the matrix).
No per-row Python object outlives a chunk of rows: SQLite's rows are turned into NumPy arrays
100,000 at a time, PostgreSQL's arrive as a binary ``COPY`` parsed by NumPy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from timbre.errors import StorageError
from timbre.store.metadata import catalog_frame, item_metadata
from timbre.store.schema import (
    FEATURE_COLUMNS,
    NO_TIMESTAMP,
    T_INTERACTIONS,
    T_ITEM_FEATURES,
    T_ITEM_TAGS,
    T_ITEMS,
    T_USER_ITEM_TAGS,
    T_USERS,
)
from timbre.store.sql import IN_CHUNK, chunks, dataset_id, ms_to_timestamps

#: The item columns read before adding tags, genres and features.
ITEM_META_COLUMNS = (
    "id",
    "key",
    "kind",
    "name",
    "artist",
    "link_key",
    "in_catalog",
    "catalog_match",
)
#: SQLite rows turned into arrays at a time (bounds the driver's tuples held at once).
FETCH_CHUNK = 100_000
#: Consecutive ids read with one ``BETWEEN`` rather than listed in an ``IN``.
MIN_RUN = 8
#: ``BETWEEN`` ranges per query (two bound values each, under SQLite's 999).
RANGE_CHUNK = 400
#: One interaction as read: (user id, item id, weight, epoch ms).
FIELDS = ("user", "item", "weight", "ts")
ROW = np.dtype([("user", "<i8"), ("item", "<i8"), ("weight", "<f8"), ("ts", "<i8")])
#: PostgreSQL's binary ``COPY`` of the same four columns cast to 8 bytes each: per row a field
#: count (2 bytes), then per field its length (4) and value (8), big-endian.
PG_ROW = np.dtype(
    [("n", ">i2")]
    + [pair for name, kind in (("user", ">i8"), ("item", ">i8"), ("weight", ">f8"), ("ts", ">i8"))
       for pair in ((f"{name}_len", ">i4"), (name, kind))]
)  # fmt: skip
PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
#: Bytes of ``COPY`` data gathered before they are parsed into rows.
PG_PARSE_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetColumns:
    """One data set as arrays (what ``InteractionData.from_codes`` takes).

    Attributes
    ----------
    user_keys, item_keys
        The data set's distinct users and items (in id order).
    user, item
        Per interaction row: its position in ``user_keys`` / ``item_keys``.
    weight
        Per row, its weight.
    ts
        Per row, epoch milliseconds (``NO_TIMESTAMP`` where none).
    items
        The items' metadata (see ``metadata.item_metadata``), sorted by key.
    tag_weights, tag_assignments
        As ``datasets.load_tags`` reads them.
    """

    user_keys: NDArray[np.object_]
    item_keys: NDArray[np.object_]
    user: NDArray[np.int64]
    item: NDArray[np.int64]
    weight: NDArray[np.float64]
    ts: NDArray[np.int64]
    items: pd.DataFrame
    tag_weights: pd.DataFrame
    tag_assignments: pd.DataFrame

    def timestamps(self) -> pd.Series | None:
        """Each row's time (UTC, ``NaT`` where none); ``None`` when no row has one."""
        if not (self.ts != NO_TIMESTAMP).any():
            return None
        return ms_to_timestamps(self.ts, pd.RangeIndex(len(self.ts)))


def load_columns(conn: Connection, name: str) -> DatasetColumns:
    """Data set ``name`` as :class:`DatasetColumns` (one connection, one transaction).

    Raises
    ------
    DataError
        No data set has this name.
    """
    ident = dataset_id(conn, name)
    rows = read_interactions(conn, ident)
    user_ids, user = distinct_ids(rows["user"])
    item_ids, item = distinct_ids(rows["item"])
    users, items = user_ids.tolist(), item_ids.tolist()
    weights, assignments = tag_frames(conn, users, items)
    return DatasetColumns(
        keys_of(conn, T_USERS, user_ids),
        keys_of(conn, T_ITEMS, item_ids),
        user,
        item,
        np.ascontiguousarray(rows["weight"]),
        np.ascontiguousarray(rows["ts"]),
        items_metadata(conn, items),
        weights,
        assignments,
    )


def distinct_ids(ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The sorted distinct ``ids`` and each one's position among them (``np.unique`` with
    ``return_inverse``; by a table of the ids present when they are not too sparse, which
    needs no sort of millions of rows)."""
    if not len(ids) or ids.min() < 0 or ids.max() > 4 * len(ids) + 1_000_000:
        distinct, position = np.unique(ids, return_inverse=True)
        return distinct.astype(np.int64), position.astype(np.int64)
    present = np.zeros(int(ids.max()) + 1, dtype=bool)
    present[ids] = True
    position = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(np.int64), position[ids]


def read_interactions(conn: Connection, ident: int) -> NDArray[np.void]:
    """Every interaction of data set ``ident`` as a :data:`ROW` record array, in the order the
    database gives them (the ``SELECT`` of ``datasets.load_dataset`` without its event)."""
    if conn.dialect.name == "postgresql":
        return _copy_interactions(conn, ident)
    inter = T_INTERACTIONS
    query = sa.select(inter.c.user_id, inter.c.item_id, inter.c.weight, inter.c.ts).where(
        inter.c.dataset_id == ident
    )
    cursor = conn.execute(query).cursor
    parts = []
    while batch := cursor.fetchmany(FETCH_CHUNK):
        parts.append(np.array(batch, dtype=ROW))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=ROW)


def _copy_interactions(conn: Connection, ident: int) -> NDArray[np.void]:
    """PostgreSQL: the rows through a binary ``COPY``, parsed as it arrives."""
    sql = (
        "COPY (SELECT user_id::int8, item_id::int8, weight::float8, ts::int8 FROM interactions "
        f"WHERE dataset_id = {int(ident)}) TO STDOUT (FORMAT BINARY)"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    pending = bytearray()
    parts: list[NDArray[np.void]] = []
    header_done = False
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            pending += block
            if not header_done:
                if len(pending) < 19:
                    continue
                if bytes(pending[:11]) != PG_SIGNATURE:
                    raise StorageError("PostgreSQL sent an unexpected COPY header")
                extension = int.from_bytes(pending[15:19], "big")
                if len(pending) < 19 + extension:
                    continue
                del pending[: 19 + extension]
                header_done = True
            if len(pending) >= PG_PARSE_BYTES:
                _take_rows(pending, parts)
    _take_rows(pending, parts)
    if bytes(pending) != b"\xff\xff":
        raise StorageError("PostgreSQL's COPY of the interactions ended unexpectedly")
    return np.concatenate(parts) if parts else np.zeros(0, dtype=ROW)


def _take_rows(pending: bytearray, parts: list[NDArray[np.void]]) -> None:
    """Move the whole rows at the start of ``pending`` into ``parts`` (the 2-byte trailer is
    shorter than a row: it stays pending)."""
    whole = len(pending) // PG_ROW.itemsize * PG_ROW.itemsize
    if whole:
        parts.append(_pg_rows(bytes(pending[:whole])))
        del pending[:whole]


def _pg_rows(buffer: bytes) -> NDArray[np.void]:
    """Whole binary ``COPY`` rows as :data:`ROW` records (every field 8 bytes, never null)."""
    got = np.frombuffer(buffer, dtype=PG_ROW)
    layout_ok = bool((got["n"] == len(FIELDS)).all()) and all(
        bool((got[f"{name}_len"] == 8).all()) for name in FIELDS
    )
    if not layout_ok:
        raise StorageError("PostgreSQL's COPY of the interactions has an unexpected layout")
    out = np.empty(len(got), dtype=ROW)
    for name in FIELDS:
        out[name] = got[name]
    return out


def select_ids(
    conn: Connection,
    query: sa.Select[Any],
    column: sa.ColumnElement[Any],
    ids: list[int],
    columns: list[str],
) -> pd.DataFrame:
    """The rows of ``query`` whose ``column`` is one of ``ids`` (sorted, distinct): runs of
    consecutive ids (a data set imported at once has one run) with ``BETWEEN``, the others in
    ``IN`` lists of bound values."""
    rows = [tuple(row) for condition in _id_conditions(column, ids) for row in conn.execute(
        query.where(condition)).all()]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _id_conditions(column: sa.ColumnElement[Any], ids: list[int]) -> Iterator[Any]:
    values = np.asarray(ids, dtype=np.int64)
    if not len(values):
        return
    starts = np.flatnonzero(np.r_[True, np.diff(values) != 1])
    ends = np.r_[starts[1:], len(values)]
    long = (ends - starts) >= MIN_RUN
    runs = [
        (int(values[s]), int(values[e - 1])) for s, e in zip(starts[long], ends[long], strict=True)
    ]
    single = np.concatenate(
        [values[s:e] for s, e in zip(starts[~long], ends[~long], strict=True)] or [values[:0]]
    ).tolist()
    for part in chunks(runs, RANGE_CHUNK):
        yield sa.or_(*[column.between(low, high) for low, high in part])
    for chunk in chunks(single, IN_CHUNK):
        yield column.in_(chunk)


def keys_of(conn: Connection, table: sa.Table, ids: NDArray[np.int64]) -> NDArray[np.object_]:
    """The ``key`` of each of ``ids`` (sorted, distinct) of ``table`` (users or items)."""
    pairs = select_ids(
        conn, sa.select(table.c.id, table.c.key), table.c.id, ids.tolist(), ["id", "key"]
    )
    known = pairs["id"].to_numpy(dtype=np.int64)
    order = np.argsort(known)
    if len(known) != len(ids) or not np.array_equal(known[order], ids):
        raise StorageError(f"{table.name} changed while the data set was read; try again")
    return np.asarray(pairs["key"].to_numpy(dtype=object)[order], dtype=object)


def items_metadata(conn: Connection, item_ids: list[int]) -> pd.DataFrame:
    """The metadata of the items ``item_ids`` (sorted): see ``metadata.item_metadata``."""
    items, tags = T_ITEMS, T_ITEM_TAGS
    meta = select_ids(
        conn, sa.select(*[items.c[c] for c in ITEM_META_COLUMNS]), items.c.id, item_ids,
        list(ITEM_META_COLUMNS),
    )  # fmt: skip
    item_tags = select_ids(
        conn, sa.select(tags.c.item_id, tags.c.kind, tags.c.tag, tags.c.weight), tags.c.item_id,
        item_ids, ["item_id", "kind", "tag", "weight"],
    )  # fmt: skip
    own = select_ids(
        conn, sa.select(T_ITEM_FEATURES), T_ITEM_FEATURES.c.item_id, item_ids,
        ["item_id", *FEATURE_COLUMNS],
    )  # fmt: skip
    return item_metadata(meta, item_tags, own, catalog_frame(conn))


def tag_frames(
    conn: Connection, user_ids: list[int], item_ids: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tags of kind ``tag`` on the items ``item_ids`` (``item_key, tag, weight``) and the
    users ``user_ids``' own tags on them (``user_key, item_key, tag, timestamp``), each in key
    order (the same rows whichever way the database found them)."""
    items, users, tags, own = T_ITEMS, T_USERS, T_ITEM_TAGS, T_USER_ITEM_TAGS
    weights = select_ids(
        conn,
        sa.select(items.c.key, tags.c.tag, tags.c.weight)
        .select_from(tags.join(items, items.c.id == tags.c.item_id))
        .where(tags.c.kind == "tag"),
        tags.c.item_id,
        item_ids,
        ["item_key", "tag", "weight"],
    )
    assignments = select_ids(
        conn,
        sa.select(users.c.key, items.c.key, own.c.tag, own.c.ts, own.c.item_id).select_from(
            own.join(users, users.c.id == own.c.user_id).join(items, items.c.id == own.c.item_id)
        ),
        own.c.user_id,
        user_ids,
        ["user_key", "item_key", "tag", "ts", "item_id"],
    )
    known = np.isin(assignments.pop("item_id").to_numpy(dtype=np.int64), item_ids)
    assignments = assignments[known]
    weights = weights.sort_values(["item_key", "tag"], ignore_index=True, kind="stable")
    assignments = assignments.sort_values(
        ["user_key", "item_key", "tag", "ts"], ignore_index=True, kind="stable"
    )
    stamps = assignments.pop("ts").to_numpy(dtype=np.int64)
    assignments["timestamp"] = ms_to_timestamps(stamps, assignments.index)
    return weights, assignments
