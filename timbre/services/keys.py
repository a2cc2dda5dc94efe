"""Keys of the JSON API: made here from ``secrets``, shown once, stored only as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from timbre.errors import ParameterError
from timbre.store import Store

#: What every token starts with (so one found in a log or a paste is recognisable).
TOKEN_PREFIX = "tmb_"
#: Requests per minute of a key made without ``--rate-limit`` (the Big Five design's).
DEFAULT_RATE_LIMIT = 100
#: Characters of a token kept in the clear to tell keys apart in ``timbre keys list``.
SHOWN_CHARS = 10


@dataclass(frozen=True)
class ApiKey:
    """A stored key as the API sees it (never the token)."""

    id: int
    name: str
    admin: bool
    rate_limit: int
    revoked: bool


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(
    store: Store, name: str, admin: bool = False, rate_limit: int = DEFAULT_RATE_LIMIT
) -> tuple[int, str]:
    """Make a key: its id and the token (returned once; only its hash is stored).

    Raises
    ------
    ParameterError
        An empty name or a rate limit below 1.
    """
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int):
        raise ParameterError(f"rate_limit must be a whole number, got {rate_limit!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key_id = store.add_api_key(name, token_hash(token), token[:SHOWN_CHARS], admin, rate_limit)
    return key_id, token


def find_key(store: Store, token: str) -> ApiKey | None:
    """The key a presented token belongs to (revoked ones too), or ``None``."""
    row = store.api_key_by_hash(token_hash(token))
    if row is None:
        return None
    return ApiKey(
        int(row["id"]),
        str(row["name"]),
        bool(row["admin"]),
        int(row["rate_limit"]),
        row["revoked_at"] is not None,
    )


def list_keys(store: Store) -> list[dict[str, Any]]:
    """Every key for ``timbre keys list``: id, name, first characters, admin, limit, when
    made and revoked (as text)."""
    rows = store.list_api_keys()
    return [
        {
            **row,
            "admin": bool(row["admin"]),
            "created_at": str(row["created_at"]),
            "revoked_at": None if row["revoked_at"] is None else str(row["revoked_at"]),
        }
        for row in rows
    ]


def revoke_key(store: Store, key_id: int) -> bool:
    """Revoke a key at once (``False``: it was already); ``NotFoundError`` when none."""
    return store.revoke_api_key(key_id)
