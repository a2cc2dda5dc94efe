"""What is asked about users: who is stored, their friends, where a history resumes, removal."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import DataError
from timbre.store.schema import (
    NO_TIMESTAMP,
    T_DATASETS,
    T_FETCH_LOGS,
    T_INTERACTIONS,
    T_ITEM_TAGS,
    T_ITEMS,
    T_PERSONALITY_PROFILES,
    T_SAVED_RECOMMENDATIONS,
    T_USER_FRIENDS,
    T_USER_ITEM_TAGS,
    T_USERS,
)
from timbre.store.sql import IN_CHUNK, chunks, dataset_id, select_frame

#: The tables whose rows name a user by key rather than by id.
KEYED_BY_USER = (T_FETCH_LOGS, T_PERSONALITY_PROFILES, T_SAVED_RECOMMENDATIONS)


def list_users(conn: Connection, prefix: str) -> pd.DataFrame:
    """Users whose key starts with ``prefix`` (taken literally), by key.

    Returns
    -------
    pandas.DataFrame
        ``key, name, created_at, interactions, datasets`` (comma-separated data set names).
    """
    users, inter, datasets = T_USERS, T_INTERACTIONS, T_DATASETS
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        sa.select(users.c.id, users.c.key, users.c.name, users.c.created_at)
        .where(users.c.key.like(f"{escaped}%", escape="\\"))
        .order_by(users.c.key)
    ).all()
    counts: dict[int, int] = {}
    names: dict[int, set[str]] = {}
    for chunk in chunks([r[0] for r in rows], IN_CHUNK):
        for user_id, dataset, n in conn.execute(
            sa.select(inter.c.user_id, datasets.c.name, sa.func.count())
            .select_from(inter.join(datasets, datasets.c.id == inter.c.dataset_id))
            .where(inter.c.user_id.in_(chunk))
            .group_by(inter.c.user_id, datasets.c.name)
        ):
            counts[user_id] = counts.get(user_id, 0) + int(n)
            names.setdefault(user_id, set()).add(str(dataset))
    return pd.DataFrame(
        {
            "key": [r[1] for r in rows],
            "name": [r[2] for r in rows],
            "created_at": [r[3] for r in rows],
            "interactions": [counts.get(r[0], 0) for r in rows],
            "datasets": [", ".join(sorted(names.get(r[0], ()))) for r in rows],
        }
    )


def remove_user(conn: Connection, key: str) -> dict[str, int]:
    """Delete a user, exactly their rows and the data sets this leaves empty; rows per table.

    A key that names no user raises ``DataError`` (and, in the caller's transaction, nothing
    is deleted).
    """
    users, inter, friends = T_USERS, T_INTERACTIONS, T_USER_FRIENDS
    user_id = conn.execute(sa.select(users.c.id).where(users.c.key == key)).scalar()
    if user_id is None:
        raise DataError(f"no user {key!r} in the store")
    touched = list(
        conn.execute(
            sa.select(inter.c.dataset_id).distinct().where(inter.c.user_id == user_id)
        ).scalars()
    )
    removed = {
        "interactions": conn.execute(inter.delete().where(inter.c.user_id == user_id)).rowcount,
        "user_friends": conn.execute(
            friends.delete().where(
                sa.or_(friends.c.user_id == user_id, friends.c.friend_id == user_id)
            )
        ).rowcount,
        "user_item_tags": conn.execute(
            T_USER_ITEM_TAGS.delete().where(T_USER_ITEM_TAGS.c.user_id == user_id)
        ).rowcount,
    }
    for table in KEYED_BY_USER:
        removed[table.name] = conn.execute(table.delete().where(table.c.user_key == key)).rowcount
    empty = [
        d
        for d in touched
        if conn.execute(sa.select(inter.c.id).where(inter.c.dataset_id == d).limit(1)).first()
        is None
    ]
    removed["datasets"] = (
        conn.execute(T_DATASETS.delete().where(T_DATASETS.c.id.in_(empty))).rowcount if empty else 0
    )
    removed["users"] = conn.execute(users.delete().where(users.c.id == user_id)).rowcount
    return {table: int(n or 0) for table, n in removed.items()}


def friend_pairs(conn: Connection, name: str) -> pd.DataFrame:
    """Directed friend pairs (``user_key, friend_key``) of users who both played in ``name``."""
    inter, users, friends = T_INTERACTIONS, T_USERS, T_USER_FRIENDS
    ident = dataset_id(conn, name)
    members = sa.select(inter.c.user_id).where(inter.c.dataset_id == ident)
    a, b = users.alias("a"), users.alias("b")
    query = (
        sa.select(a.c.key, b.c.key)
        .select_from(
            friends.join(a, a.c.id == friends.c.user_id).join(b, b.c.id == friends.c.friend_id)
        )
        .where(friends.c.user_id.in_(members), friends.c.friend_id.in_(members))
        .order_by(a.c.key, b.c.key)
    )
    return select_frame(conn, query, ["user_key", "friend_key"])


def latest_event_ms(conn: Connection, dataset: str, user_key: str, event: str) -> int | None:
    """The newest timestamp (epoch ms) of a user's ``event`` rows in a data set, or ``None``."""
    inter, users, datasets = T_INTERACTIONS, T_USERS, T_DATASETS
    value = conn.execute(
        sa.select(sa.func.max(inter.c.ts))
        .select_from(
            inter.join(users, users.c.id == inter.c.user_id).join(
                datasets, datasets.c.id == inter.c.dataset_id
            )
        )
        .where(
            datasets.c.name == dataset,
            users.c.key == user_key,
            inter.c.event == event,
            inter.c.ts != NO_TIMESTAMP,
        )
    ).scalar()
    return None if value is None else int(value)


def item_keys_with_tags(conn: Connection, keys: Iterable[str], kind: str) -> set[str]:
    """Which of ``keys`` name items that already have tags of ``kind``."""
    items, tags = T_ITEMS, T_ITEM_TAGS
    found: set[str] = set()
    for chunk in chunks(sorted({str(k) for k in keys}), IN_CHUNK):
        found.update(
            conn.execute(
                sa.select(items.c.key)
                .distinct()
                .select_from(items.join(tags, tags.c.item_id == items.c.id))
                .where(items.c.key.in_(chunk), tags.c.kind == kind)
            ).scalars()
        )
    return found
