"""Reading data sets: their list, the store's stats, frames for the models, charts; deleting one."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.atomic import atomic_write
from timbre.store.loading import items_metadata, keys_of, tag_frames
from timbre.store.schema import (
    T_DATASETS,
    T_INTERACTIONS,
    T_ITEMS,
    T_USERS,
)
from timbre.store.sql import (
    dataset_id,
    ms_to_timestamps,
    select_frame,
    select_plain_frame,
)

log = logging.getLogger(__name__)


def list_datasets(conn: Connection) -> list[dict[str, Any]]:
    """Data sets (``name, source, created_at``), oldest first."""
    datasets = T_DATASETS
    rows = conn.execute(
        sa.select(datasets.c.name, datasets.c.source, datasets.c.created_at).order_by(datasets.c.id)
    ).all()
    return [{"name": n, "source": s, "created_at": c} for n, s, c in rows]


def _count(conn: Connection, query: sa.Executable) -> int:
    """The single number ``query`` selects (``NULL`` -> 0)."""
    return int(conn.execute(query).scalar() or 0)


def stats(conn: Connection, cache_dir: Path | None = None) -> dict[str, Any]:
    """Users, items per kind, interactions, per data set counts and catalogue sizes.

    Returns
    -------
    dict
        ``users``, ``items`` (per kind), ``interactions``, ``datasets`` (see ``dataset_stats``)
        and ``catalog`` (``tracks``, distinct ``artists``).
    """
    items = T_ITEMS
    kinds = {
        str(kind): int(count)
        for kind, count in conn.execute(
            sa.select(items.c.kind, sa.func.count()).group_by(items.c.kind)
        )
    }
    in_catalog = items.c.in_catalog.is_(True)
    artists = sa.func.count(sa.distinct(items.c.catalog_artist_key))
    per_dataset = dataset_stats(conn, cache_dir)  # every interaction belongs to one data set
    return {
        "users": _count(conn, sa.select(sa.func.count()).select_from(T_USERS)),
        "items": {kind: kinds.get(kind, 0) for kind in ("artist", "track", "album")},
        "interactions": sum(d["interactions"] for d in per_dataset.values()),
        "datasets": per_dataset,
        "catalog": {
            "tracks": _count(conn, sa.select(sa.func.count()).where(in_catalog)),
            "artists": _count(conn, sa.select(artists).where(in_catalog)),
        },
    }


def dataset_stats(conn: Connection, cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Per data set (oldest first): source, users, items, interactions and match rates.

    ``catalog_match_rate`` is the share of the data set's linkable items (a link key, or in the
    catalogue) that match the catalogue, ``interactions_match_rate`` the share of its
    interactions naming a matched item; both ``None`` when nothing could link. Data sets without
    interactions are left out.

    With ``cache_dir``, each data set's figures are kept there by its revision
    (``timbre.store.revisions``): only a data set written since is counted again (at 17.5M
    rows one data set's counts take a minute; an import into another leaves them be).
    """
    sets = T_DATASETS
    rows = conn.execute(
        sa.select(
            sets.c.id, sets.c.name, sets.c.source, sets.c.created_at, sets.c.revision
        ).order_by(sets.c.id)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for ident, name, source, created, revision in rows:
        key = [str(name), str(created), int(revision)]
        path = cache_dir / "stats" / f"dataset-{int(ident)}.json" if cache_dir else None
        figures = _cached_stats(path, key)
        if figures is None:
            figures = _one_dataset_stats(conn, int(ident))
            if path is not None:
                _save_stats(path, key, figures)
        if figures["interactions"]:
            out[str(name)] = {"source": source, **figures}
    return out


def _one_dataset_stats(conn: Connection, ident: int) -> dict[str, Any]:
    """Users, items, interactions and match rates of one data set (see ``dataset_stats``)."""
    inter, items = T_INTERACTIONS, T_ITEMS
    joined = inter.join(items, items.c.id == inter.c.item_id)
    mine = inter.c.dataset_id == ident
    n_users, n_items, n_inter, n_matched = conn.execute(
        sa.select(
            sa.func.count(sa.distinct(inter.c.user_id)),
            sa.func.count(sa.distinct(inter.c.item_id)),
            sa.func.count(),
            sa.func.sum(sa.case((items.c.catalog_match.is_(True), 1), else_=0)),
        )
        .select_from(joined)
        .where(mine)
    ).one()

    def distinct_items(condition: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count(sa.distinct(items.c.id))).select_from(joined)
        return _count(conn, query.where(mine, condition))

    candidates = distinct_items(sa.or_(items.c.link_key != "", items.c.in_catalog.is_(True)))
    matched = distinct_items(items.c.catalog_match.is_(True)) if candidates else 0
    return {
        "users": int(n_users),
        "items": int(n_items),
        "interactions": int(n_inter),
        "catalog_match_rate": (matched / candidates) if candidates else None,
        "interactions_match_rate": (int(n_matched or 0) / n_inter) if candidates else None,
    }


def _cached_stats(path: Path | None, key: list[Any]) -> dict[str, Any] | None:
    """A data set's figures saved for this revision, or ``None``."""
    if path is None or not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: counted again and rewritten
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    figures = saved.get("stats")
    return figures if isinstance(figures, dict) else None


def _save_stats(path: Path, key: list[Any], figures: dict[str, Any]) -> None:
    text = json.dumps({"key": key, "stats": figures}).encode("utf-8")
    try:
        atomic_write(path, lambda stream: stream.write(text))
    except OSError:
        log.warning("could not keep data set statistics in %s", path.parent)


def load_dataset(conn: Connection, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One data set as long-format interactions and its items' metadata.

    Returns
    -------
    interactions
        ``user_key, item_key, event, weight, timestamp`` (UTC or NaT).
    items
        See ``item_metadata``.

    Raises
    ------
    DataError
        No data set has this name.
    """
    inter, items, users = T_INTERACTIONS, T_ITEMS, T_USERS
    ident = dataset_id(conn, name)
    # ids, not keys, per row (a join would fetch two key strings per interaction): each key is
    # fetched once and shared by its rows
    frame = select_plain_frame(
        conn,
        sa.select(
            inter.c.user_id, inter.c.item_id, inter.c.event, inter.c.weight, inter.c.ts
        ).where(inter.c.dataset_id == ident),
        ["user_id", "item_id", "event", "weight", "ts"],
    )
    # the data set's users and items as id lists (an IN over the interactions subquery costs
    # a pass over all of them per query: a second each at 2M rows)
    user_ids, user = np.unique(frame.pop("user_id").to_numpy(dtype=np.int64), return_inverse=True)
    item_ids, item = np.unique(frame.pop("item_id").to_numpy(dtype=np.int64), return_inverse=True)
    frame.insert(0, "user_key", keys_of(conn, users, user_ids)[user])
    frame.insert(1, "item_key", keys_of(conn, items, item_ids)[item])
    frame["timestamp"] = ms_to_timestamps(frame.pop("ts").to_numpy(dtype=np.int64), frame.index)
    return frame, items_metadata(conn, item_ids.tolist())


def load_tags(conn: Connection, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tag data of data set ``name``'s items, for experiments that must not leak it.

    Returns
    -------
    weights
        ``item_key, tag, weight``: every tag of kind ``tag`` on the data set's items.
    assignments
        ``user_key, item_key, tag, timestamp``: the data set's users' own tags on its items.
    Both in key order (see ``loading.tag_frames``).
    """
    inter = T_INTERACTIONS
    ident = dataset_id(conn, name)
    mine = inter.c.dataset_id == ident
    user_ids = conn.execute(sa.select(inter.c.user_id).where(mine).distinct()).scalars().all()
    item_ids = conn.execute(sa.select(inter.c.item_id).where(mine).distinct()).scalars().all()
    return tag_frames(conn, sorted(user_ids), sorted(item_ids))


def interactions_of(conn: Connection, user_keys: Sequence[str]) -> pd.DataFrame:
    """Every interaction of the given users in any data set, with what is needed to match
    its item elsewhere: ``user_key, dataset, item_key, kind, name, artist, event, weight,
    timestamp``."""
    inter, items, users, sets = T_INTERACTIONS, T_ITEMS, T_USERS, T_DATASETS
    columns = [
        users.c.key, sets.c.name, items.c.key, items.c.kind, items.c.name, items.c.artist,
        inter.c.event, inter.c.weight, inter.c.ts,
    ]  # fmt: skip
    frame = select_frame(
        conn,
        sa.select(*columns)
        .select_from(
            inter.join(users, users.c.id == inter.c.user_id)
            .join(items, items.c.id == inter.c.item_id)
            .join(sets, sets.c.id == inter.c.dataset_id)
        )
        .where(users.c.key.in_(list(user_keys))),
        ["user_key", "dataset", "item_key", "kind", "name", "artist", "event", "weight", "ts"],
    )
    frame["timestamp"] = ms_to_timestamps(frame.pop("ts").to_numpy(dtype=np.int64), frame.index)
    return frame


def user_keys_ending(conn: Connection, suffix: str, limit: int = 6) -> list[str]:
    """Up to ``limit`` user keys that end in ``:suffix`` (``2`` -> ``hetrec:user:2``)."""
    escaped = suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        sa.select(T_USERS.c.key)
        .where(T_USERS.c.key.like(f"%:{escaped}", escape="\\"))
        .order_by(T_USERS.c.key)
        .limit(limit)
    )
    return [str(k) for k in conn.execute(query).scalars()]


#: The statement behind :func:`existing_user_keys` (built once: every API answer runs it).
_EXISTING_USERS = sa.select(T_USERS.c.key).where(
    T_USERS.c.key.in_(sa.bindparam("keys", expanding=True))
)


def existing_user_keys(conn: Connection, keys: Sequence[str]) -> list[str]:
    """Which of ``keys`` name a user in the store (in the order given)."""
    wanted = list(keys)
    if not wanted:
        return []
    found = set(conn.execute(_EXISTING_USERS, {"keys": wanted}).scalars())
    return [key for key in keys if key in found]


def plays_per_user(conn: Connection, name: str) -> pd.Series:
    """Total weight per user in data set ``name`` (index: user key)."""
    inter, users = T_INTERACTIONS, T_USERS
    ident = dataset_id(conn, name)
    rows = conn.execute(
        sa.select(users.c.key, sa.func.sum(inter.c.weight))
        .select_from(inter.join(users, users.c.id == inter.c.user_id))
        .where(inter.c.dataset_id == ident)
        .group_by(users.c.key)
    ).all()
    return pd.Series({k: float(v) for k, v in rows}, name="plays", dtype=float)


def top_items(conn: Connection, name: str, n: int) -> pd.DataFrame:
    """The ``n`` most played items of data set ``name``: ``key, name, artist, plays, listeners``.

    ``name`` shows as ``artist - title`` where the artist is known.
    """
    inter, items = T_INTERACTIONS, T_ITEMS
    ident = dataset_id(conn, name)
    plays = sa.func.sum(inter.c.weight).label("plays")
    query = (
        sa.select(
            items.c.key,
            items.c.name,
            items.c.artist,
            plays,
            sa.func.count(sa.distinct(inter.c.user_id)),
        )
        .select_from(inter.join(items, items.c.id == inter.c.item_id))
        .where(inter.c.dataset_id == ident)
        .group_by(items.c.id, items.c.key, items.c.name, items.c.artist)
        .order_by(plays.desc(), items.c.key)
        .limit(n)
    )
    frame = select_frame(conn, query, ["key", "name", "artist", "plays", "listeners"])
    artist = frame["artist"].fillna("").astype(str)
    title = frame["name"].astype(str)
    frame["name"] = (artist + " - " + title).where(artist != "", title)
    return frame


def genre_mix(conn: Connection, name: str) -> pd.DataFrame:
    """Plays per first catalogue genre of the items of data set ``name`` (``genre, plays``)."""
    interactions, items = load_dataset(conn, name)
    first = items.set_index("key")["genres"].map(lambda g: g[0] if len(g) else None)
    genre = interactions["item_key"].map(first)
    mix = interactions.assign(genre=genre).dropna(subset=["genre"])
    plays = mix.groupby("genre")["weight"].sum().rename("plays")
    return plays.reset_index().sort_values("plays", ascending=False, ignore_index=True)


def delete_dataset(conn: Connection, name: str) -> int:
    """Delete data set ``name`` and its interactions; the number of interactions removed."""
    ident = dataset_id(conn, name)
    removed = conn.execute(
        T_INTERACTIONS.delete().where(T_INTERACTIONS.c.dataset_id == ident)
    ).rowcount
    conn.execute(T_DATASETS.delete().where(T_DATASETS.c.id == ident))
    return int(removed or 0)
