"""The JSON API's keys (``api_keys``): the one writer and reader of that table.

Only a token's SHA-256 is stored (``timbre.services.keys`` makes tokens and hashes them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.errors import NotFoundError, ParameterError
from timbre.store.schema import T_API_KEYS
from timbre.store.sql import now

#: The columns a key is listed with (never a hash).
LISTED = ("id", "name", "prefix", "admin", "rate_limit", "created_at", "revoked_at")


def add_key(
    conn: Connection, name: str, key_hash: str, prefix: str, admin: bool, rate_limit: int
) -> int:
    """Record a key; its id."""
    if not name.strip():
        raise ParameterError("a key needs a name (--name)")
    if rate_limit < 1:
        raise ParameterError(f"rate_limit must be 1 or more requests per minute, got {rate_limit}")
    values = {
        "name": name.strip(),
        "key_hash": key_hash,
        "prefix": prefix,
        "admin": bool(admin),
        "rate_limit": int(rate_limit),
        "created_at": now(),
    }
    query = T_API_KEYS.insert().values(**values).returning(T_API_KEYS.c.id)
    return int(conn.execute(query).scalar_one())


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key (revoked ones too), oldest first, without hashes."""
    keys = T_API_KEYS
    query = sa.select(*(keys.c[c] for c in LISTED)).order_by(keys.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]


#: The statement behind :func:`key_by_hash`, built once (every API request runs it).
_BY_HASH = sa.select(*(T_API_KEYS.c[c] for c in LISTED)).where(
    T_API_KEYS.c.key_hash == sa.bindparam("key_hash")
)


def key_by_hash(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    """The key with this hash (``None``: no such key), revoked or not."""
    row = conn.execute(_BY_HASH, {"key_hash": key_hash}).first()
    return None if row is None else dict(row._mapping)


def revoke_key(conn: Connection, key_id: int) -> bool:
    """Revoke a key; ``False`` when it was revoked already. ``NotFoundError``: no such key."""
    keys = T_API_KEYS
    found = conn.execute(sa.select(keys.c.revoked_at).where(keys.c.id == key_id)).first()
    if found is None:
        raise NotFoundError(f"no API key {key_id}; `timbre keys list` lists them")
    if found[0] is not None:
        return False
    conn.execute(keys.update().where(keys.c.id == key_id).values(revoked_at=now()))
    return True
