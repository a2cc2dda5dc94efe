"""Data-set revisions: every write to a data set's rows bumps its counter (the matrix cache's
key, see ``timbre.matrix_cache``).

A data set's loaded form depends on its interactions and on its items' names, tags, features
and users' tags; a write to any of them bumps every data set it reaches, in the writer's own
transaction (a rolled-back import bumps nothing).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.store.schema import T_DATASETS, T_INTERACTIONS, T_ITEMS, T_USERS
from timbre.store.sql import IN_CHUNK, chunks


def bump(conn: Connection, dataset_ids: Iterable[int | None]) -> None:
    """Add one to the revision of each of these data sets."""
    wanted = sorted({int(d) for d in dataset_ids if d is not None})
    for chunk in chunks(wanted, IN_CHUNK):
        conn.execute(
            T_DATASETS.update()
            .where(T_DATASETS.c.id.in_(chunk))
            .values(revision=T_DATASETS.c.revision + 1)
        )


def bump_all(conn: Connection) -> None:
    """Add one to every data set's revision (a write that reaches every item: the catalogue)."""
    conn.execute(T_DATASETS.update().values(revision=T_DATASETS.c.revision + 1))


def datasets_of_items(conn: Connection, item_ids: Iterable[int]) -> set[int]:
    """The data sets that hold an interaction with any of these items."""
    inter = T_INTERACTIONS
    found: set[int] = set()
    for chunk in chunks(sorted(set(item_ids)), IN_CHUNK):
        query = sa.select(inter.c.dataset_id).distinct().where(inter.c.item_id.in_(chunk))
        found.update(int(d) for d in conn.execute(query).scalars())
    return found


def revision_of(conn: Connection, name: str) -> tuple[int, str, int] | None:
    """``(id, created_at, revision)`` of data set ``name``, or ``None`` when there is none: the
    id and creation time tell a re-created data set of the same name apart."""
    sets = T_DATASETS
    row = conn.execute(
        sa.select(sets.c.id, sets.c.created_at, sets.c.revision).where(sets.c.name == name)
    ).first()
    if row is None:
        return None
    return int(row[0]), str(row[1]), int(row[2])


def state_token(conn: Connection) -> str:
    """A short text that changes with every write the store's statistics can see: each data
    set's id and revision, and how many users and items there are (cached reads of other
    processes' writes, e.g. a CLI import, are keyed by it)."""
    sets = conn.execute(sa.select(T_DATASETS.c.id, T_DATASETS.c.revision).order_by(T_DATASETS.c.id))
    users = conn.execute(sa.select(sa.func.count()).select_from(T_USERS)).scalar()
    items = conn.execute(sa.select(sa.func.count()).select_from(T_ITEMS)).scalar()
    return f"u{users}.i{items}." + ".".join(f"{ident}r{revision}" for ident, revision in sets)
