"""What is asked about users: who is stored, their friends, where a history resumes, removal,
forgetting a person."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import DataError
from timbre.store import revisions
from timbre.store.schema import (
    NO_TIMESTAMP,
    T_DATASETS,
    T_FETCH_LOGS,
    T_INTERACTIONS,
    T_ITEM_TAGS,
    T_ITEMS,
    T_MODEL_RUNS,
    T_PERSONALITY_PROFILES,
    T_SAVED_RECOMMENDATIONS,
    T_USER_FRIENDS,
    T_USER_ITEM_TAGS,
    T_USERS,
    Base,
)
from timbre.store.sql import IN_CHUNK, chunks, dataset_id, select_frame

#: The tables whose rows name a user by key rather than by id.
KEYED_BY_USER = (T_FETCH_LOGS, T_PERSONALITY_PROFILES, T_SAVED_RECOMMENDATIONS)


def list_users(conn: Connection, prefix: str) -> pd.DataFrame:
    """Users whose key starts with ``prefix`` (taken literally), by key.

    Returns
    -------
    pandas.DataFrame
        ``key, name, created_at, interactions, datasets`` (comma-separated data set names),
        ``tracked`` (fetched from a live source, or added to be).
    """
    users, inter, datasets = T_USERS, T_INTERACTIONS, T_DATASETS
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        sa.select(users.c.id, users.c.key, users.c.name, users.c.created_at, users.c.tracked)
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
            "tracked": [bool(r[4]) for r in rows],
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
    revisions.bump(conn, touched)
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


#: Column names that hold a user's key as text: a table with such a column names a person by key
#: (fetch logs, personality profiles, saved lists), even a person without a ``users`` row.
USER_KEY_COLUMNS = ("user_key", "person_key")
#: What ``forget_user`` reports besides the rows deleted per table (these rows are kept): data
#: sets the person's interactions were in that now hold none, and model runs that may have been
#: trained on data including the person.
DATASETS_LEFT_EMPTY = "datasets_left_empty"
RUNS_TRAINED_WITH_USER = "model_runs_trained_with_user"


@dataclass(frozen=True)
class UserReference:
    """The columns of one table that name a user.

    Attributes
    ----------
    table
        The table.
    columns
        ``(column, users column)`` pairs: the column holds that value of the user's row
        (``id`` for a foreign key to ``users.id``, ``key`` for a text ``user_key``).
    """

    table: sa.Table
    columns: tuple[tuple[sa.Column[Any], str], ...]

    def condition(self, user: Mapping[str, object]) -> sa.ColumnElement[bool] | None:
        """Rows naming the user whose ``users`` values are ``user`` (``None``: none can)."""
        terms = [column == user[target] for column, target in self.columns if target in user]
        return sa.or_(*terms) if terms else None


def user_references(metadata: sa.MetaData = Base.metadata) -> list[UserReference]:
    """Every table of the schema that names a user, dependents first (the order to delete in).

    A table names a user through any foreign key to ``users`` (each side of ``user_friends``)
    or a column called one of ``USER_KEY_COLUMNS``; read from the metadata, so a new table is
    covered without changing this code.
    """
    users = metadata.tables["users"]
    found: list[UserReference] = []
    for table in reversed(metadata.sorted_tables):
        if table is users:
            continue
        pairs = [
            (fk.parent, fk.column.name) for fk in table.foreign_keys if fk.column.table is users
        ]
        pairs += [
            (column, "key")
            for column in table.columns
            if column.name in USER_KEY_COLUMNS and not column.foreign_keys
        ]
        if pairs:
            found.append(UserReference(table, tuple(sorted(pairs, key=lambda p: p[0].name))))
    return found


def forget_user(conn: Connection, key: str) -> dict[str, int]:
    """Delete a person: their ``users`` row and every row of any table that names them.

    Runs on the caller's connection (one transaction: all of it or nothing). The person is known
    by a ``users`` row or by any row keyed by ``key`` (a questionnaire profile without listening
    is a person too). Items, data sets and model runs are shared and stay: data sets left
    without interactions are kept and counted under ``DATASETS_LEFT_EMPTY``; runs on a data set
    the person had interactions in, recorded since the person was first stored, are counted under
    ``RUNS_TRAINED_WITH_USER`` (an upper bound; their artifacts are not touched).

    Returns
    -------
    dict
        Rows deleted per table (every table that can name a user, and ``users``, zeros
        included), plus the two counts above.

    Raises
    ------
    DataError
        Nothing in the store names ``key`` (nothing is deleted).
    """
    users, inter = T_USERS, T_INTERACTIONS
    row = conn.execute(sa.select(users).where(users.c.key == key)).mappings().first()
    person: dict[str, object] = {"key": key} if row is None else dict(row)
    targets = [(ref.table, ref.condition(person)) for ref in user_references()]
    named = [(table, where) for table, where in targets if where is not None]
    if row is None and not any(
        conn.execute(sa.select(sa.literal(1)).select_from(t).where(w).limit(1)).first()
        for t, w in named
    ):
        raise DataError(
            f"no user {key!r}; no user, profile, fetch log or saved list has this key "
            "(give the full key, e.g. lastfm:rj); nothing was deleted"
        )
    touched: list[int] = []
    runs = 0
    if row is not None:
        touched = list(
            conn.execute(
                sa.select(inter.c.dataset_id).distinct().where(inter.c.user_id == row["id"])
            ).scalars()
        )
        runs = _runs_trained_with(conn, touched, row["created_at"])
        revisions.bump(conn, touched)
    deleted = {table.name: 0 for table, _ in targets}
    for table, where in named:
        deleted[table.name] = int(conn.execute(table.delete().where(where)).rowcount or 0)
    deleted["users"] = (
        0
        if row is None
        else int(conn.execute(users.delete().where(users.c.id == row["id"])).rowcount)
    )
    deleted[DATASETS_LEFT_EMPTY] = sum(
        conn.execute(sa.select(inter.c.id).where(inter.c.dataset_id == d).limit(1)).first() is None
        for d in touched
    )
    deleted[RUNS_TRAINED_WITH_USER] = runs
    return deleted


def _runs_trained_with(conn: Connection, dataset_ids: list[int], since: object) -> int:
    """Model runs on one of the data sets ``dataset_ids`` recorded at or after ``since``."""
    if not dataset_ids:
        return 0
    names = sa.select(T_DATASETS.c.name).where(T_DATASETS.c.id.in_(dataset_ids))
    runs = T_MODEL_RUNS
    query = (
        sa.select(sa.func.count())
        .select_from(runs)
        .where(runs.c.dataset.in_(names), runs.c.created_at >= since)
    )
    return int(conn.execute(query).scalar() or 0)


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
