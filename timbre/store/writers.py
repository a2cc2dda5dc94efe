"""One writer per table of an import, run in order on one connection inside one transaction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.store import revisions
from timbre.store.schema import (
    FEATURE_COLUMNS,
    NO_TIMESTAMP,
    T_DATASETS,
    T_INTERACTIONS,
    T_ITEM_FEATURES,
    T_ITEM_TAGS,
    T_ITEMS,
    T_USER_FRIENDS,
    T_USER_ITEM_TAGS,
    T_USERS,
)
from timbre.store.scrobbles import match_stored_plays, refine_times
from timbre.store.sql import (
    IN_CHUNK,
    WriteCounts,
    bulk_insert,
    chunks,
    clean,
    ids_by_key,
    now,
    timestamps_to_ms,
    upsert,
)

#: The columns every re-import of an item overwrites (a catalogue import also its link fields).
ITEM_UPDATES = ("name", "artist", "link_key")
CATALOG_UPDATES = ("in_catalog", "catalog_artist_key", "catalog_match")
#: The natural key of an interaction.
INTERACTION_KEY = ("dataset_id", "user_id", "item_id", "event", "ts")
#: The longest link key stored; a longer one (from very long names) never links.
MAX_LINK_KEY = 1000
#: What a batch's write did, per table.
Counts = dict[str, WriteCounts]


@dataclass(frozen=True)
class BatchIds:
    """The database ids that a batch's rows name, resolved once users and items are written.

    Attributes
    ----------
    dataset
        The id of the batch's data set; ``None`` for a batch without interactions.
    users
        User key -> id, for every user an interaction or friendship names.
    items
        Item key -> id, for every item the batch holds or an interaction, tag or feature names.
    """

    dataset: int | None
    users: dict[str, int]
    items: dict[str, int]


def write_batch(
    conn: Connection,
    batch: ImportBatch,
    fresh: bool | None = None,
    continued: bool = False,
    newest_item: int | None = None,
) -> Counts:
    """Write every table of a validated batch, in the order their foreign keys need.

    The caller holds the transaction: a ``DataError`` raised here (a row naming an unknown user
    or item) rolls all of it back. Fills the batch report's catalogue match counts.

    Parameters
    ----------
    conn
        A connection inside the import's one transaction.
    batch
        The import, checked by ``timbre.store.checks``.
    fresh
        Whether the batch's data set is new to the store (``None``: look it up).
    continued
        A later chunk of a streamed import into a data set it created: its interactions may
        repeat an earlier chunk's keys, whose weights are then summed (as within one batch);
        their count is left to the caller (``new`` 0).
    newest_item
        The highest item id stored before the import began (``None``: now); items above it are
        the import's own, whose data sets need no revision bump beyond its own.

    Returns
    -------
    dict
        Per table the batch gave rows to, what the write did (see ``WriteCounts``).
    """
    created = now()
    if newest_item is None:
        newest_item = newest_item_id(conn)
    if fresh is None:
        fresh = batch.dataset.strip() != "" and not dataset_exists(conn, batch.dataset)
    counts: Counts = {}
    dataset = write_dataset(conn, batch, created, counts)
    write_users(conn, batch, created, counts)
    write_items(conn, batch, counts)
    ids = resolve_ids(conn, batch, dataset)
    write_tags(conn, batch, ids, counts)
    write_features(conn, batch, ids, counts)
    write_friends(conn, batch, ids, counts)
    write_interactions(conn, batch, ids, counts, fresh, continued)
    write_user_tags(conn, batch, ids, counts)
    link_catalog(conn, batch, ids)
    bump_revisions(conn, batch, ids, newest_item)
    return counts


def bump_revisions(conn: Connection, batch: ImportBatch, ids: BatchIds, newest_item: int) -> None:
    """Bump the revision of every data set the batch reached: its own, and every data set
    holding an item the batch named that was stored before it (its name, tags or features may
    have changed); a catalogue import reaches every item, so every data set."""
    if batch.is_catalog:
        revisions.bump_all(conn)
        return
    stored_before = [i for i in ids.items.values() if i <= newest_item]
    revisions.bump(conn, {ids.dataset, *revisions.datasets_of_items(conn, stored_before)})


def newest_item_id(conn: Connection) -> int:
    """The highest item id stored (0 when there is none)."""
    return int(conn.execute(sa.select(sa.func.max(T_ITEMS.c.id))).scalar() or 0)


def count_interactions(conn: Connection, name: str) -> int:
    """How many interactions data set ``name`` holds."""
    inter = T_INTERACTIONS
    query = (
        sa.select(sa.func.count())
        .select_from(inter.join(T_DATASETS, T_DATASETS.c.id == inter.c.dataset_id))
        .where(T_DATASETS.c.name == name)
    )
    return int(conn.execute(query).scalar_one())


def catalog_counts(conn: Connection, report: ImportReport) -> None:
    """A streamed import's catalogue figures, counted once over its data set (each chunk's
    own figures would count an item once per chunk it appears in)."""
    inter, items = T_INTERACTIONS, T_ITEMS
    members = sa.select(inter.c.item_id).join(T_DATASETS, T_DATASETS.c.id == inter.c.dataset_id)
    members = members.where(T_DATASETS.c.name == report.dataset)
    own = items.c.id.in_(members)
    matched = items.c.catalog_match.is_(True)
    count = sa.func.count()
    report.catalog_matched = int(conn.execute(sa.select(count).where(own, matched)).scalar_one())
    report.catalog_candidates = int(
        conn.execute(
            sa.select(count).where(own, sa.or_(items.c.link_key != "", matched))
        ).scalar_one()
    )
    hits = (
        sa.select(count)
        .select_from(inter.join(items, items.c.id == inter.c.item_id))
        .join(T_DATASETS, T_DATASETS.c.id == inter.c.dataset_id)
        .where(T_DATASETS.c.name == report.dataset, matched)
    )
    report.interactions_matched = int(conn.execute(hits).scalar_one())


def dataset_exists(conn: Connection, name: str) -> bool:
    query = sa.select(T_DATASETS.c.id).where(T_DATASETS.c.name == name)
    return conn.execute(query).first() is not None


def _count(counts: Counts, table: sa.Table, done: WriteCounts) -> None:
    counts.setdefault(table.name, WriteCounts()).add(done)


def write_dataset(
    conn: Connection, batch: ImportBatch, created: datetime, counts: Counts
) -> int | None:
    """Create the batch's data set unless it exists; its id, or ``None`` without interactions."""
    if not len(batch.interactions):
        return None
    row = {"name": batch.dataset, "source": batch.source, "created_at": created}
    _count(counts, T_DATASETS, upsert(conn, T_DATASETS, [row], keys=["name"]))
    datasets = T_DATASETS
    return int(
        conn.execute(sa.select(datasets.c.id).where(datasets.c.name == batch.dataset)).scalar_one()
    )


def write_users(conn: Connection, batch: ImportBatch, created: datetime, counts: Counts) -> None:
    """Upsert the batch's users by key (a new name overwrites; a missing one is the key). Users
    whose optional ``tracked`` column is true become tracked; no write untracks one."""
    if not len(batch.users):
        return
    users = batch.users.drop_duplicates("key")
    tracked = (
        users["tracked"].fillna(False).astype(bool).tolist()
        if "tracked" in users.columns
        else [False] * len(users)
    )
    rows = [
        {"key": str(k), "name": str(n) if clean(n) is not None else str(k), "created_at": created}
        for k, n in zip(users["key"], users["name"], strict=True)
    ]
    plain = [row for row, mark in zip(rows, tracked, strict=True) if not mark]
    marked = [{**row, "tracked": True} for row, mark in zip(rows, tracked, strict=True) if mark]
    _count(counts, T_USERS, upsert(conn, T_USERS, plain, keys=["key"], update=["name"]))
    _count(counts, T_USERS, upsert(conn, T_USERS, marked, keys=["key"], update=["name", "tracked"]))


def write_items(conn: Connection, batch: ImportBatch, counts: Counts) -> None:
    """Upsert the batch's items by key; the catalogue also (re)sets the link targets."""
    if not len(batch.items):
        return
    items = batch.items.drop_duplicates("key")
    rows = [
        _item_row(batch, key, kind, name, artist, lk)
        for key, kind, name, artist, lk in zip(
            items["key"],
            items["kind"],
            items["name"],
            items["artist"],
            items["link_key"],
            strict=True,
        )
    ]
    update = (*ITEM_UPDATES, *CATALOG_UPDATES) if batch.is_catalog else ITEM_UPDATES
    _count(counts, T_ITEMS, upsert(conn, T_ITEMS, rows, keys=["key"], update=update))


def _item_row(
    batch: ImportBatch, key: object, kind: object, name: object, artist: object, lk: object
) -> dict[str, object]:
    """One ``items`` row (catalogue items are their own match; ids and names were checked
    against their limits, a link key too long to store never links)."""
    artist_clean = clean(artist)
    name_clean = clean(name)
    catalog_artist_key = None
    if batch.is_catalog and artist_clean is not None:
        catalog_artist_key = link_key("artist", str(artist_clean))[:MAX_LINK_KEY] or None
    linked = str(clean(lk) or "")
    return {
        "key": str(key),
        "kind": str(kind),
        "name": str(name_clean if name_clean is not None else key),
        "artist": None if artist_clean is None else str(artist_clean),
        "source": batch.source,
        "link_key": linked if len(linked) <= MAX_LINK_KEY else "",
        "in_catalog": batch.is_catalog,
        "catalog_artist_key": catalog_artist_key,
        "catalog_match": batch.is_catalog,
    }


def resolve_ids(conn: Connection, batch: ImportBatch, dataset: int | None) -> BatchIds:
    """The ids of every user and item the batch's rows name (written or already stored).

    Raises
    ------
    DataError
        A row names an item or user that is neither in the batch nor in the store.
    """
    item_keys = _distinct(
        batch.interactions["item_key"],
        batch.tags["item_key"],
        batch.features["item_key"],
        batch.user_tags["item_key"],
        batch.items["key"],
    )
    items = _resolve(conn, T_ITEMS, item_keys, "interaction/tag rows name items")
    user_keys = _distinct(
        batch.interactions["user_key"],
        batch.friends["user_key"],
        batch.friends["friend_key"],
        batch.user_tags["user_key"],
    )
    users = _resolve(conn, T_USERS, user_keys, "rows name users")
    return BatchIds(dataset=dataset, users=users, items=items)


def _distinct(*columns: pd.Series) -> set[str]:
    """The distinct keys of several columns (each made distinct in pandas first)."""
    return {str(k) for column in columns for k in column.unique()}


def _resolve(conn: Connection, table: sa.Table, keys: set[str], naming: str) -> dict[str, int]:
    """The ids of ``keys`` in ``table``; a ``DataError`` (saying which rows ``naming``) if any
    key is unknown."""
    ids = ids_by_key(conn, table, keys)
    missing = sorted(keys - ids.keys())
    if missing:
        raise DataError(
            f"{len(missing)} {naming} that are neither in the import nor in the store, "
            f"e.g. {missing[:3]}"
        )
    return ids


def write_tags(conn: Connection, batch: ImportBatch, ids: BatchIds, counts: Counts) -> None:
    """Upsert tags by (item, kind, tag); the last of a repeated tag sets the weight."""
    if not len(batch.tags):
        return
    tags = batch.tags.drop_duplicates(["item_key", "kind", "tag"], keep="last")
    rows = [
        {"item_id": ids.items[k], "kind": str(kind), "tag": str(tag), "weight": float(w)}
        for k, kind, tag, w in zip(
            tags["item_key"], tags["kind"], tags["tag"], tags["weight"], strict=True
        )
    ]
    done = upsert(conn, T_ITEM_TAGS, rows, keys=["item_id", "kind", "tag"], update=["weight"])
    _count(counts, T_ITEM_TAGS, done)


def write_user_tags(conn: Connection, batch: ImportBatch, ids: BatchIds, counts: Counts) -> None:
    """Upsert users' tags on items by (user, item, tag); the first time kept (a re-import of
    the same file changes nothing)."""
    if not len(batch.user_tags):
        return
    tags = batch.user_tags.drop_duplicates(["user_key", "item_key", "tag"], keep="first")
    stamps = timestamps_to_ms(tags["timestamp"])
    rows = [
        {"user_id": ids.users[u], "item_id": ids.items[i], "tag": str(t), "ts": int(ts)}
        for u, i, t, ts in zip(tags["user_key"], tags["item_key"], tags["tag"], stamps, strict=True)
    ]
    done = upsert(conn, T_USER_ITEM_TAGS, rows, keys=["user_id", "item_id", "tag"])
    _count(counts, T_USER_ITEM_TAGS, done)


def write_features(conn: Connection, batch: ImportBatch, ids: BatchIds, counts: Counts) -> None:
    """Upsert audio features by item, overwriting only the columns the batch has (NaN -> NULL)."""
    if not len(batch.features):
        return
    feats = batch.features.drop_duplicates("item_key", keep="last")
    columns = [c for c in FEATURE_COLUMNS if c in feats.columns]
    values = feats[columns].astype(float).to_numpy()
    rows = [
        {
            "item_id": ids.items[key],
            **{
                c: (None if math.isnan(v) else float(v))
                for c, v in zip(columns, vector, strict=True)
            },
        }
        for key, vector in zip(feats["item_key"], values, strict=True)
    ]
    done = upsert(conn, T_ITEM_FEATURES, rows, keys=["item_id"], update=columns)
    _count(counts, T_ITEM_FEATURES, done)


def write_friends(conn: Connection, batch: ImportBatch, ids: BatchIds, counts: Counts) -> None:
    """Insert the directed friend pairs that are not stored yet."""
    if not len(batch.friends):
        return
    pairs = {
        (ids.users[a], ids.users[b])
        for a, b in zip(batch.friends["user_key"], batch.friends["friend_key"], strict=True)
    }
    rows = [{"user_id": a, "friend_id": b} for a, b in sorted(pairs)]
    _count(counts, T_USER_FRIENDS, upsert(conn, T_USER_FRIENDS, rows))


def write_interactions(
    conn: Connection,
    batch: ImportBatch,
    ids: BatchIds,
    counts: Counts,
    fresh: bool,
    continued: bool = False,
) -> None:
    """Upsert interactions by their natural key; a re-import overwrites the weight.

    The same natural key twice in one batch sums the weights (aggregated counts) into one row.
    A batch with a play precision has its timed plays matched with the stored ones first (one
    scrobble, one row: ``timbre.store.scrobbles``). Into a data set this batch created
    (``fresh``) the rows go plainly, in key order, through the driver's bulk path: nothing stored
    can collide with them, so every row is new.
    """
    if not len(batch.interactions):
        return
    assert ids.dataset is not None
    inter = batch.interactions
    ts = (
        timestamps_to_ms(inter["timestamp"])
        if "timestamp" in inter
        else np.full(len(inter), NO_TIMESTAMP, dtype=np.int64)
    )
    frame = pd.DataFrame(
        {
            "user_id": _ids_of(inter["user_key"], ids.users),
            "item_id": _ids_of(inter["item_key"], ids.items),
            "event": inter["event"].astype(str).to_numpy(),
            "weight": inter["weight"].astype(float).to_numpy(),
            "ts": ts,
        }
    )
    frame = pd.DataFrame(
        frame.groupby(["user_id", "item_id", "event", "ts"], as_index=False)["weight"].sum()
    )
    if batch.play_precision_s is not None:
        matched = match_stored_plays(conn, ids.dataset, frame, batch.play_precision_s)
        refine_times(conn, matched.refine)
        _count(counts, T_INTERACTIONS, matched.counts)
        frame = matched.rows
    if fresh:
        _bulk_interactions(conn, batch, ids.dataset, frame, continued)
        _count(counts, T_INTERACTIONS, WriteCounts(new=0 if continued else len(frame)))
        return
    rows = [
        {
            "dataset_id": ids.dataset,
            "user_id": int(u),
            "item_id": int(i),
            "event": e,
            "weight": float(w),
            "ts": int(t),
            "source": batch.source,
        }
        for u, i, e, w, t in zip(
            frame["user_id"],
            frame["item_id"],
            frame["event"],
            frame["weight"],
            frame["ts"],
            strict=True,
        )
    ]
    done = upsert(conn, T_INTERACTIONS, rows, keys=INTERACTION_KEY, update=["weight"])
    _count(counts, T_INTERACTIONS, done)


def _bulk_interactions(
    conn: Connection, batch: ImportBatch, dataset: int, frame: pd.DataFrame, continued: bool
) -> None:
    n = len(frame)
    rows = list(
        zip(
            [dataset] * n,
            frame["user_id"].tolist(),
            frame["item_id"].tolist(),
            frame["event"].tolist(),
            frame["weight"].tolist(),
            frame["ts"].tolist(),
            [batch.source] * n,
            strict=True,
        )
    )
    columns = ("dataset_id", "user_id", "item_id", "event", "weight", "ts", "source")
    if continued:  # an earlier chunk of this import may hold the same key: sum, as in a batch
        bulk_insert(conn, T_INTERACTIONS, columns, rows, INTERACTION_KEY, accumulate=["weight"])
    else:
        bulk_insert(conn, T_INTERACTIONS, columns, rows)


def _ids_of(keys: pd.Series, ids: dict[str, int]) -> NDArray[np.int64]:
    """The database ids of a column of keys (each distinct key looked up once)."""
    codes, uniques = pd.factorize(keys.astype(str))
    table = np.fromiter((ids[str(k)] for k in uniques), dtype=np.int64, count=len(uniques))
    return table[codes]


def link_catalog(conn: Connection, batch: ImportBatch, ids: BatchIds) -> None:
    """Relink items to the catalogue and count the batch's matches into its report.

    A catalogue import relinks every item (new targets); any other batch relinks its own items
    and reports how many of them could link (``catalog_candidates``), did
    (``catalog_matched``), and how many of its interactions name a matched item.
    """
    if batch.is_catalog:
        conn.execute(T_ITEMS.update().values(catalog_match=_match_expression()))
        return
    if not len(batch.items):
        return
    own = [ids.items[k] for k in batch.items["key"].drop_duplicates()]
    for chunk in chunks(own, IN_CHUNK):
        conn.execute(
            T_ITEMS.update()
            .where(T_ITEMS.c.id.in_(chunk))
            .values(catalog_match=_match_expression())
        )
    matched = _matched(conn, [ids.items[k] for k in batch.items["key"]])
    keys = [
        k
        for k, lk in zip(batch.items["key"], batch.items["link_key"].fillna(""), strict=True)
        if lk or ids.items[k] in matched
    ]
    keys = list(dict.fromkeys(keys))
    report = batch.report
    report.catalog_candidates = len(keys)
    report.catalog_matched = len(matched)
    if len(batch.interactions):
        matched_keys = {k for k in keys if ids.items[k] in matched}
        report.interactions_matched = int(batch.interactions["item_key"].isin(matched_keys).sum())


def _match_expression() -> sa.ColumnElement[bool]:
    """Whether an item matches the catalogue: it is in it, or its link key names a catalogue
    track (tracks, albums) or a catalogue artist (artists)."""
    cat = sa.alias(T_ITEMS, "cat")
    items = T_ITEMS
    track_match = sa.exists().where(cat.c.in_catalog.is_(True), cat.c.link_key == items.c.link_key)
    artist_match = sa.exists().where(
        cat.c.in_catalog.is_(True), cat.c.catalog_artist_key == items.c.link_key
    )
    return sa.or_(
        items.c.in_catalog.is_(True),
        sa.and_(
            items.c.link_key != "",
            sa.or_(
                sa.and_(items.c.kind == "artist", artist_match),
                sa.and_(items.c.kind != "artist", track_match),
            ),
        ),
    )


def _matched(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Which of the item ``ids`` match the catalogue."""
    items = T_ITEMS
    matched: set[int] = set()
    for chunk in chunks(list(ids), IN_CHUNK):
        matched.update(
            conn.execute(
                sa.select(items.c.id).where(items.c.id.in_(chunk), items.c.catalog_match.is_(True))
            ).scalars()
        )
    return matched
