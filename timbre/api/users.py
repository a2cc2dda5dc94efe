"""``/v1/users`` and ``/v1/stats``: the multi-user Last.fm collection (the CLI's ``timbre users``
and ``timbre fetch lastfm``, through the same service functions)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from timbre.api.auth import admin_key, read_key, server_of
from timbre.api.schemas import BulkFetchBody, FetchBody, UsersBody
from timbre.services.collection import (
    fetch_lastfm,
    fetch_summary,
    live_user_key,
    live_users,
    remove_users,
    track_users,
)
from timbre.services.keys import ApiKey

router = APIRouter(tags=["users"])
ReadKey = Annotated[ApiKey, Depends(read_key)]
AdminKey = Annotated[ApiKey, Depends(admin_key)]


@router.get("/v1/users")
def list_users(request: Request, _key: ReadKey) -> dict[str, Any]:
    """Tracked Last.fm users and Spotify accounts with their newest fetch."""
    return {"users": live_users(server_of(request).store)}


@router.post("/v1/users", status_code=201)
def add_users(body: UsersBody, request: Request, _key: AdminKey) -> dict[str, Any]:
    """Track Last.fm users (idempotent)."""
    return {"tracked": track_users(server_of(request).store, body.names)}


@router.delete("/v1/users/{user_id}")
def delete_user(user_id: str, request: Request, _key: AdminKey) -> dict[str, Any]:
    """Remove a user (a Last.fm name or a full key) with all their rows."""
    removed = remove_users(server_of(request).store, [user_id])
    return {"removed": live_user_key(user_id), "rows": next(iter(removed.values()))}


@router.post("/v1/users/{user_id}/fetch")
def fetch_user(
    user_id: str, request: Request, _key: AdminKey, body: FetchBody | None = None
) -> dict[str, Any]:
    """Fetch one Last.fm user now (waits for it; one fetch log)."""
    server = server_of(request)
    started = time.perf_counter()
    kinds = body.kinds if body else None
    results = fetch_lastfm(server.store, server.settings, [user_id.removeprefix("lastfm:")], kinds)
    return fetch_summary(results, time.perf_counter() - started)


@router.post("/v1/users/bulk-fetch")
def bulk_fetch(
    request: Request, _key: AdminKey, body: BulkFetchBody | None = None
) -> dict[str, Any]:
    """Fetch several Last.fm users (default: every tracked one) under one shared rate limit."""
    server = server_of(request)
    started = time.perf_counter()
    names = [n.removeprefix("lastfm:") for n in (body.names or [])] if body else []
    results = fetch_lastfm(server.store, server.settings, names, body.kinds if body else None)
    return fetch_summary(results, time.perf_counter() - started)


@router.get("/v1/stats")
def stats(request: Request, _key: ReadKey) -> dict[str, Any]:
    """Users, items per kind, interactions, per data set counts and catalogue match rates."""
    return server_of(request).store.stats()
