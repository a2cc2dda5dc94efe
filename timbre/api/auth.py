"""Bearer keys: read endpoints need a key, write endpoints an admin key; each key its limit."""

from __future__ import annotations

from fastapi import Request

from timbre.api.errors import ApiError
from timbre.api.server import Server
from timbre.services.keys import ApiKey, find_key

BEARER = {"WWW-Authenticate": "Bearer"}


def server_of(request: Request) -> Server:
    """The app's :class:`Server`."""
    server = request.app.state.server
    assert isinstance(server, Server)
    return server


def _authorize(request: Request, admin: bool) -> ApiKey:
    server = server_of(request)
    header = request.headers.get("authorization", "")
    if not header:
        raise ApiError(
            401,
            "missing_key",
            "this endpoint needs an API key: send 'Authorization: Bearer <key>' "
            "(`timbre keys create --name NAME` makes one)",
            headers=BEARER,
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "malformed_key", "send the key as 'Authorization: Bearer <key>'", headers=BEARER
        )
    key = find_key(server.store, token.strip())
    if key is None:
        raise ApiError(401, "invalid_key", "this API key is not known", headers=BEARER)
    if key.revoked:
        raise ApiError(401, "revoked_key", f"API key {key.id} was revoked", headers=BEARER)
    if admin and not key.admin:
        raise ApiError(
            403,
            "admin_required",
            f"API key {key.id} may only read: this endpoint writes and needs an admin key "
            "(`timbre keys create --name NAME --admin`)",
        )
    wait = server.limiter.hit(key.id, key.rate_limit)
    if wait is not None:
        server.metrics.rate_limited.inc()
        raise ApiError(
            429,
            "rate_limited",
            f"API key {key.id} made {key.rate_limit} requests in the last minute (its limit); "
            f"retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return key


async def read_key(request: Request) -> ApiKey:
    """A dependency: a valid key within its rate limit."""
    return _authorize(request, admin=False)


async def admin_key(request: Request) -> ApiKey:
    """A dependency: a valid admin key within its rate limit."""
    return _authorize(request, admin=True)
