"""People: accounts linked to a person, and a person's feedback on lists (like / skip / block).

Feedback rows are interactions of their own kind (events ``like``, ``skip``, ``block``) in the
data set :data:`FEEDBACK_DATASET`, so they never join a data set models train on; the person
is a ``users`` row keyed by their id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import DataError, ParameterError
from timbre.store import revisions
from timbre.store.schema import (
    EVENTS,
    FEEDBACK_EVENTS,
    T_DATASETS,
    T_INTERACTIONS,
    T_ITEMS,
    T_PERSON_LINKS,
    T_PERSONALITY_PROFILES,
    T_USERS,
)
from timbre.store.sql import ids_by_key, ms_to_timestamps, now

#: The data set feedback rows live in (never trained on).
FEEDBACK_DATASET = "feedback"


def link_account(conn: Connection, person_key: str, user_key: str) -> None:
    """Link an account to a person (an account has one person: a new link replaces the old)."""
    if not person_key.strip() or not user_key.strip():
        raise ParameterError("a link needs a person id and an account key")
    links = T_PERSON_LINKS
    conn.execute(links.delete().where(links.c.user_key == user_key))
    conn.execute(links.insert().values(person_key=person_key, user_key=user_key, created_at=now()))


def unlink_account(conn: Connection, user_key: str) -> int:
    """Remove an account's link; the number of links removed (0 or 1)."""
    links = T_PERSON_LINKS
    return int(conn.execute(links.delete().where(links.c.user_key == user_key)).rowcount or 0)


#: The reads of every API answer, built once (SQLAlchemy then reuses their cache keys and
#: compiled forms: 0.02 ms a statement instead of 0.2 for one built on each call).
_LINKED = sa.select(T_PERSON_LINKS.c.user_key).where(
    T_PERSON_LINKS.c.person_key == sa.bindparam("person_key")
)
_PERSON_OF = sa.select(T_PERSON_LINKS.c.person_key).where(
    T_PERSON_LINKS.c.user_key == sa.bindparam("user_key")
)


def linked_accounts(conn: Connection, person_key: str) -> list[str]:
    """The account keys linked to a person, in key order."""
    found = conn.execute(_LINKED, {"person_key": person_key}).scalars()
    return sorted(str(k) for k in found)


def person_of(conn: Connection, user_key: str) -> str | None:
    """The person an account is linked to, or ``None``."""
    found = conn.execute(_PERSON_OF, {"user_key": user_key}).scalar()
    return None if found is None else str(found)


def _check_event(event: str) -> None:
    if event not in FEEDBACK_EVENTS:
        raise ParameterError(f"feedback is one of {', '.join(FEEDBACK_EVENTS)}; got {event!r}")


def _feedback_ids(conn: Connection, person_key: str) -> tuple[int, int]:
    """The feedback data set's id and the person's user id (both created when missing)."""
    sets, users = T_DATASETS, T_USERS
    ident = conn.execute(sa.select(sets.c.id).where(sets.c.name == FEEDBACK_DATASET)).scalar()
    if ident is None:
        values = {"name": FEEDBACK_DATASET, "source": "feedback", "created_at": now()}
        ident = conn.execute(sets.insert().values(**values).returning(sets.c.id)).scalar_one()
    user = conn.execute(sa.select(users.c.id).where(users.c.key == person_key)).scalar()
    if user is None:
        values = {"key": person_key, "name": person_key, "created_at": now()}
        user = conn.execute(users.insert().values(**values).returning(users.c.id)).scalar_one()
    return int(ident), int(user)


def add_feedback(
    conn: Connection, person_key: str, item_keys: Sequence[str], event: str, ms: int
) -> int:
    """Record ``event`` on each item at time ``ms`` (epoch ms); the rows written.

    Raises ``DataError`` naming the items the store does not hold (nothing is written).
    """
    _check_event(event)
    items = ids_by_key(conn, T_ITEMS, item_keys)
    unknown = [k for k in item_keys if k not in items]
    if unknown:
        raise DataError(f"no item {', '.join(map(repr, unknown[:5]))} in the store")
    dataset, user = _feedback_ids(conn, person_key)
    rows = [
        {"dataset_id": dataset, "user_id": user, "item_id": items[key], "event": event,
         "weight": 1.0, "ts": ms, "source": "feedback"}
        for key in dict.fromkeys(item_keys)
    ]  # fmt: skip
    if rows:
        conn.execute(T_INTERACTIONS.insert(), rows)
        revisions.bump(conn, [dataset])
    return len(rows)


def remove_feedback(conn: Connection, person_key: str, item_keys: Sequence[str], event: str) -> int:
    """Undo: delete the person's ``event`` rows on these items; the rows deleted."""
    _check_event(event)
    inter, users, items = T_INTERACTIONS, T_USERS, T_ITEMS
    user = conn.execute(sa.select(users.c.id).where(users.c.key == person_key)).scalar()
    ids = list(ids_by_key(conn, items, item_keys).values())
    if user is None or not ids:
        return 0
    dataset = sa.select(T_DATASETS.c.id).where(T_DATASETS.c.name == FEEDBACK_DATASET)
    where = sa.and_(
        inter.c.user_id == user,
        inter.c.event == event,
        inter.c.item_id.in_(ids),
        inter.c.dataset_id.in_(dataset.scalar_subquery()),
    )
    removed = int(conn.execute(inter.delete().where(where)).rowcount or 0)
    if removed:
        revisions.bump(conn, conn.execute(dataset).scalars())
    return removed


def _feedback_query() -> sa.Select[Any]:
    """The statement behind :func:`feedback_of` (built once: an API answer runs it)."""
    inter, users, items, sets = T_INTERACTIONS, T_USERS, T_ITEMS, T_DATASETS
    keys: sa.BindParameter[list[str]] = sa.bindparam("keys", expanding=True)
    return (
        sa.select(users.c.key, items.c.key, inter.c.event, inter.c.ts)
        .select_from(
            inter.join(users, users.c.id == inter.c.user_id)
            .join(items, items.c.id == inter.c.item_id)
            .join(sets, sets.c.id == inter.c.dataset_id)
        )
        .where(sets.c.name == FEEDBACK_DATASET, users.c.key.in_(keys))
        .order_by(inter.c.ts, inter.c.id)
    )


_FEEDBACK = _feedback_query()


def feedback_of(conn: Connection, person_keys: Sequence[str]) -> pd.DataFrame:
    """The feedback of these keys, oldest first: ``user_key, item_key, event, timestamp``."""
    wanted = list(person_keys)
    rows = [tuple(row) for row in conn.execute(_FEEDBACK, {"keys": wanted}).all()] if wanted else []
    if not rows:  # the common case (no reactions yet), without building a frame from rows
        return _NO_FEEDBACK.copy()
    frame = pd.DataFrame(rows, columns=["user_key", "item_key", "event", "ts"])
    frame["timestamp"] = ms_to_timestamps(frame.pop("ts").to_numpy(), frame.index)
    return frame


#: What :func:`feedback_of` returns for keys without feedback.
_NO_FEEDBACK = pd.DataFrame(
    {
        "user_key": pd.Series(dtype=object),
        "item_key": pd.Series(dtype=object),
        "event": pd.Series(dtype=object),
        "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
    }
)


def _marks_query() -> sa.Select[Any]:
    """The statement behind :func:`interaction_marks` (built once: it runs on every request
    of the API, and SQLAlchemy then reuses its compiled form)."""
    inter, users, profiles = T_INTERACTIONS, T_USERS, T_PERSONALITY_PROFILES
    keys: sa.BindParameter[list[str]] = sa.bindparam("keys", expanding=True)
    code = sa.case({event: n for n, event in enumerate(EVENTS, start=1)}, value=inter.c.event)
    newest = (
        sa.select(sa.func.coalesce(sa.func.max(profiles.c.id), 0))
        .where(profiles.c.user_key.in_(keys))
        .scalar_subquery()
    )
    return (
        sa.select(
            sa.func.count(inter.c.id),
            sa.func.coalesce(sa.func.max(inter.c.id), 0),
            sa.func.coalesce(sa.func.sum(inter.c.weight), 0.0),
            sa.func.coalesce(sa.func.sum(inter.c.item_id * code), 0),
            sa.func.coalesce(sa.func.sum(inter.c.ts), 0),
            newest,
        )
        .select_from(inter.join(users, users.c.id == inter.c.user_id))
        .where(users.c.key.in_(keys))
    )


_MARKS = _marks_query()


def interaction_marks(conn: Connection, user_keys: Sequence[str]) -> tuple[Any, ...]:
    """Aggregates of these users' interactions in every data set (rows, newest id, summed
    weight, summed item id per event, summed time) and their newest profile's id (0 without):
    a write to their rows changes at least one, also a delete followed by an insert that
    reuses the deleted row's id."""
    wanted = list(dict.fromkeys(user_keys))
    if not wanted:
        return (0, 0, 0.0, 0, 0, 0)
    row = conn.execute(_MARKS, {"keys": wanted}).one()
    count, newest_id, weight, items, moments, profile = row
    weight = round(float(weight), 6)
    return (int(count), int(newest_id), weight, int(items), int(moments), int(profile))


def profile_marks(conn: Connection) -> tuple[int, int]:
    """``(profiles, newest profile id)`` in the store."""
    profiles = T_PERSONALITY_PROFILES
    row = conn.execute(
        sa.select(sa.func.count(profiles.c.id), sa.func.coalesce(sa.func.max(profiles.c.id), 0))
    ).one()
    return int(row[0]), int(row[1])
